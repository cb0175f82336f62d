"""The Stable Diffusion upscalers: StableDiffusionUpscalePipeline (x4) and
StableDiffusionLatentUpscalePipeline (x2)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode, RenderRequest
from dgenerate.plugin_api.diffusion import DiffusersModelType, pipeline_class
from dgenerate.plugin_api.diffusion.loading import safety_checker_arguments

#: --upscaler-noise-levels of upscaler-x4 when not given
NOISE_LEVEL = 20


class UpscalerX4(DiffusersModelType):
    """The Stable Diffusion x4 upscaler (``stabilityai/stable-diffusion-x4-upscaler``).

    img2img only: the image of --image-seeds (after --output-size) comes out four times
    as wide and high, guided by the prompt. --upscaler-noise-levels (default 20) is how
    much noise is added to the input first; there is no strength.
    """

    pipelines = {Mode.IMG2IMG: "StableDiffusionUpscalePipeline"}

    def loading_arguments(self) -> dict[str, Any]:
        return safety_checker_arguments(pipeline_class(self.pipelines[self.base_mode]),
                                        bool(self.source.values.get("safety_checker")))

    def loading_key(self) -> tuple:
        return (bool(self.source.values.get("safety_checker")),)

    def check(self, request: RenderRequest) -> None:
        """The option is declared without default (each family has its own): when it is
        not given, 20 is set as the value to try, so that names and configs show it."""
        super().check(request)
        values = request.values
        if tuple(values.get("upscaler_noise_levels") or (None,)) == (None,) and isinstance(
                values, MutableMapping):
            values["upscaler_noise_levels"] = (NOISE_LEVEL,)

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        noise_level = job.values.get("upscaler_noise_levels")
        if noise_level is None:
            noise_level = NOISE_LEVEL
        most = pipeline.config.max_noise_level
        if noise_level > most:
            raise DgenerateError(f"--upscaler-noise-levels {noise_level}: the upscaler "
                                 f"{self.source.path!r} takes noise levels up to {most}")
        arguments["noise_level"] = noise_level
        return arguments


class UpscalerX2(DiffusersModelType):
    """The Stable Diffusion x2 latent upscaler (``stabilityai/sd-x2-latent-upscaler``).

    img2img only: the image of --image-seeds (after --output-size) comes out twice as
    wide and high, guided by the prompt. It takes no noise level and no strength, and
    only EulerDiscreteScheduler drives it. Its UNet works on the latents at twice their
    size, so the input sides must be multiples of 32 pixels, and at least 64 (for the
    released model; the exact numbers come from the model's configuration).
    """

    pipelines = {Mode.IMG2IMG: "StableDiffusionLatentUpscalePipeline"}
    #: the pipeline steps with the sigmas of this scheduler; no other works
    only_schedulers = ("EulerDiscreteScheduler",)

    def check(self, request: RenderRequest) -> None:
        super().check(request)
        for uri in request.schedulers:
            name = None if uri is None else uri.split(";", 1)[0].strip()
            if name is not None and name not in self.only_schedulers:
                raise DgenerateError(f"--schedulers: {name!r} cannot drive --model-type "
                                     f"{self.name}; only {', '.join(self.only_schedulers)} can")

    def scheduler_names(self) -> list[str]:
        return list(self.only_schedulers)

    def input_sizes(self, pipeline: Any) -> tuple[int, int]:
        """The multiple of which input sides must be, and the smallest side: the latents
        are upscaled 2x, then halved by every down block of the UNet down to 2 at least."""
        halvings = len(pipeline.unet.config.block_out_channels) - 1
        multiple = max(pipeline.vae_scale_factor // 2, 1) * 2 ** halvings
        return multiple, 2 * multiple

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        multiple, smallest = self.input_sizes(pipeline)
        for image in job.images:
            width, height = image.size
            if width % multiple or height % multiple or min(width, height) < smallest:
                fitting = "x".join(str(max(smallest, round(side / multiple) * multiple))
                                   for side in (width, height))
                raise DgenerateError(
                    f"--model-type {self.name} cannot upscale a {width}x{height} image: the "
                    f"sides must be multiples of {multiple} and at least {smallest} pixels; "
                    f"resize the input with --output-size (e.g. {fitting} --no-aspect) or "
                    "resize= in --image-seeds")
        return super().call_arguments(job, pipeline)
