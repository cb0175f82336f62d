"""DeepFloyd IF on diffusers' IF*Pipeline classes: stage I and the stage II upscaler.

IF works in pixel space: stage I makes small images (64 px for the released models) from a
T5-encoded prompt, stage II upscales them 4 times with the same prompt. A stage II model type
takes the stage I image either as its image seed (``ifs``) or through ``floyd=`` beside the
image it should follow (``ifs-img2img``, and inpainting with either). ``floyd=`` images come
from the kernel as given: neither resized nor processed.
"""

from __future__ import annotations

import inspect
from collections.abc import MutableMapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode, RenderRequest
from dgenerate.plugin_api.diffusion import DiffusersModelType, pipeline_class
from dgenerate.plugin_api.diffusion.loading import safety_checker_arguments
from dgenerate.plugin_api.values import Size

__all__ = ["INPAINT_NOISE_LEVEL", "NOISE_LEVEL", "StageOne", "SuperResolution",
           "SuperResolutionImg2Img"]

#: --upscaler-noise-levels when not given: the noise stage II adds to the upscaled stage I
#: image (diffusers' default for these pipelines) ...
NOISE_LEVEL = 250
#: ... and when inpainting, where the unmasked part of the image should stay as it is
INPAINT_NOISE_LEVEL = 0
#: how many times larger stage II makes the image seed of ``ifs`` (64 -> 256 px)
SCALE = 4


class _DeepFloyd(DiffusersModelType):
    """What both stages share: loading without safety checker and watermarker (unless
    --safety-checker), the T5 prompt used as written, folders and repositories only."""

    guidance_rescale_modes = frozenset()

    def loading_arguments(self) -> dict[str, Any]:
        enabled = bool(self.source.values.get("safety_checker"))
        arguments = safety_checker_arguments(pipeline_class(self.pipelines[self.base_mode]),
                                             enabled)
        if not enabled:
            arguments["feature_extractor"] = None
        # the invisible watermark is not dgenerate's to add
        arguments["watermarker"] = None
        return arguments

    def loading_key(self) -> tuple:
        return (bool(self.source.values.get("safety_checker")),)

    def load_base(self) -> Any:
        if self.model.kind == "file":
            raise DgenerateError(
                f"--model-type {self.name} loads a diffusers folder or Hugging Face repository "
                f"(such as DeepFloyd/IF-I-XL-v1.0), not the single file {self.source.path!r}")
        return super().load_base()

    def default_size(self) -> Size:
        """The UNet's native size (pixel space: no VAE scale)."""
        if self.capabilities.default_size is not None:
            return self.capabilities.default_size
        side = self.base().unet.config.sample_size
        return Size(side, side)

    def prepare(self, job: Job, pipeline: Any) -> None:
        super().prepare(job, pipeline)
        scheduler = pipeline.scheduler
        if scheduler.config.get("variance_type") is not None and "variance_type" not in \
                inspect.signature(type(scheduler).__init__).parameters:
            # the UNets predict a variance beside the noise; the pipelines split it off only
            # when the scheduler's config names no learned variance, and a scheduler that
            # cannot use one (DDIM ...) keeps that value from the DDPM config it came from
            scheduler.register_to_config(variance_type=None)

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        # the caption cleaner rewrites prompts (and needs beautifulsoup4 and ftfy): prompts
        # are used as written, as with every other model type
        arguments["clean_caption"] = False
        if job.mode is Mode.INPAINT:  # the IF inpainting pipelines size from the image
            arguments.pop("width", None)
            arguments.pop("height", None)
        return arguments


class StageOne(_DeepFloyd):
    """DeepFloyd IF stage I (``DeepFloyd/IF-I-XL-v1.0`` ...): 64x64 images by default.

    For img2img and inpainting the pipeline brings the input to its native size itself (the
    short side to 64 for the released models), so the output is smaller than the input.
    """

    pipelines = {
        Mode.TXT2IMG: "IFPipeline",
        Mode.IMG2IMG: "IFImg2ImgPipeline",
        Mode.INPAINT: "IFInpaintingPipeline",
    }


class _StageTwo(_DeepFloyd):
    """The stage II pipelines: a noise level, and the stage I image from ``floyd=``."""

    def default_noise_level(self, mode: Mode) -> int:
        return INPAINT_NOISE_LEVEL if mode is Mode.INPAINT else NOISE_LEVEL

    def check(self, request: RenderRequest) -> None:
        """Besides the common checks: the default noise level, when the option is not
        given and every job has the same one, is set as the value to try, so that file
        names and written configs show it (as for a declared default)."""
        super().check(request)
        values = request.values
        if tuple(values.get("upscaler_noise_levels") or (None,)) != (None,):
            return
        levels = {self.default_noise_level(mode) for mode in request.modes}
        if len(levels) == 1 and isinstance(values, MutableMapping):
            values["upscaler_noise_levels"] = tuple(levels)

    def noise_level(self, job: Job, pipeline: Any) -> int:
        level = job.values.get("upscaler_noise_levels")
        if level is None:
            level = self.default_noise_level(job.mode)
        steps = pipeline.image_noising_scheduler.config.num_train_timesteps
        if level >= steps:
            raise DgenerateError(f"--upscaler-noise-levels {level}: the stage II model "
                                 f"{self.source.path!r} takes noise levels up to {steps - 1}")
        return level

    def floyd_image(self, job: Job, why: str) -> Any:
        image = getattr(job, "floyd_image", None)
        if image is None:
            example = ("photo.png;mask=mask.png;floyd=stage1.png" if job.mode is Mode.INPAINT
                       else "photo.png;floyd=stage1.png")
            raise DgenerateError(
                f"--model-type {self.name} needs the stage I image for {why}: give it with "
                f'floyd= in --image-seeds, e.g. "{example}"')
        return image.convert("RGB")

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        arguments["noise_level"] = self.noise_level(job, pipeline)
        if job.mode is Mode.INPAINT or self.floyd_mode(job):
            # the stage I image is upscaled onto the image seed it should follow
            why = "inpainting" if job.mode is Mode.INPAINT else "img2img"
            arguments["original_image"] = arguments.pop("image")
            arguments["image"] = [self.floyd_image(job, why)] * job.batch_size
        return arguments

    def floyd_mode(self, job: Job) -> bool:
        """Whether the img2img job takes its stage I image from floyd=."""
        return True


class SuperResolution(_StageTwo):
    """DeepFloyd IF stage II (``DeepFloyd/IF-II-L-v1.0`` ...) as an upscaler: the image seed
    is the stage I image and comes out 4 times as wide and high. Inpainting takes the stage
    I image from ``floyd=`` and the image seed as the picture to inpaint (its size)."""

    pipelines = {
        Mode.IMG2IMG: "IFSuperResolutionPipeline",
        Mode.INPAINT: "IFInpaintingSuperResolutionPipeline",
    }

    def floyd_mode(self, job: Job) -> bool:
        if getattr(job, "floyd_image", None) is not None:
            raise DgenerateError(
                f"--model-type {self.name} upscales the image seed itself: give the stage I "
                "image as the image seed (floyd= is for inpainting, with a mask), or use "
                "--model-type ifs-img2img to upscale floyd= onto the image seed")
        return False

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        if job.mode is Mode.IMG2IMG:
            arguments.pop("strength", None)  # a plain upscale: nothing of the input is kept
            width, height = job.images[0].size
            arguments.update(width=width * SCALE, height=height * SCALE)
        return arguments


class SuperResolutionImg2Img(_StageTwo):
    """DeepFloyd IF stage II img2img: the stage I image of ``floyd=`` is upscaled onto the
    image seed (the picture stage I varied), with --image-seed-strengths; the output has the
    size the pipeline gives the image seed (its short side at the model's native size)."""

    pipelines = {
        Mode.IMG2IMG: "IFImg2ImgSuperResolutionPipeline",
        Mode.INPAINT: "IFInpaintingSuperResolutionPipeline",
    }
