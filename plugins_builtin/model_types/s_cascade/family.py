"""Stable Cascade on diffusers' StableCascadePriorPipeline and StableCascadeDecoderPipeline.

The main model is the prior: it turns the prompt (and image prompts) into small image
embeddings. ``--s-cascade-decoder`` turns those into the picture. Image seeds are image
(style) prompts of the prior, encoded by its CLIP image encoder: there is no img2img
that starts from a noised input, hence no strength, mask or latents input.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, LoadTarget, Mode, RenderOutput, RenderRequest
from dgenerate.plugin_api.diffusion import DiffusersModelType
from dgenerate.plugin_api.diffusion.components import (
    UNetUri,
    check_unet_uri,
    parse_unet_uri,
    unet_key,
)
from dgenerate.plugin_api.diffusion.second_model import SecondModel

from .loading import DECODER_ARGUMENTS, load_cascade_unet, register_paella

__all__ = ["StableCascade"]

DECODER_PIPELINE = "StableCascadeDecoderPipeline"
#: what the decoder does unless --second-model-inference-steps / -guidance-scales say
DECODER_STEPS = 10
DECODER_GUIDANCE = 0.0


def _decoder_unet(uri: UNetUri, context: Any, target: LoadTarget) -> Any:
    """``--second-model-unet``: a ``StableCascadeUNet``, with the decoder's defaults."""
    return load_cascade_unet(uri, context, component="decoder", dtype=target.dtype,
                             device=target.device, variant=target.variant, token=target.token)


def _distinct(images: tuple[Any, ...]) -> list[Any]:
    """The job's input images once each: the kernel repeats them per output image, and every
    output of a Stable Cascade job takes all of them as its image prompt."""
    seen: dict[int, Any] = {}
    for image in images:
        seen.setdefault(id(image), image)
    return list(seen.values())


def prior_side(side: int, multiple: float, scale: float, patch: int) -> int:
    """The side to ask the prior for so that the decoder can run at about ``side`` pixels.

    The prior's latent side is ``ceil(side / multiple)``; the decoder's is that times
    ``scale``, rounded down, and must be a multiple of its UNet's patch size (the real
    models: 1024 px is 24 prior latents, 256 decoder latents). Where it is not, the next
    prior latent side is taken (the picture is then resized to the requested size).
    """
    latent = max(1, math.ceil(side / multiple))
    while int(latent * scale) % patch:
        latent += 1
    asked = math.floor(latent * multiple)
    while math.ceil(asked / multiple) < latent:
        asked += 1
    return asked


class StableCascade(DiffusersModelType):
    """Stable Cascade: the prior (the main model) and ``--s-cascade-decoder``.

    txt2img, and image prompts: ``--image-seeds`` images are encoded by the prior's image
    encoder (its own, or ``--image-encoder``, which resizes them to its own input size) and
    steer the picture beside the prompt. The decoder runs
    ``--second-model-inference-steps`` (10) with ``--second-model-guidance-scales`` (0) and
    ``--second-model-prompts`` (the prompt);
    ``--unet`` replaces the prior's UNet and ``--second-model-unet`` the decoder's.
    """

    pipelines = {Mode.TXT2IMG: "StableCascadePriorPipeline",
                 Mode.IMG2IMG: "StableCascadePriorPipeline"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.second = SecondModel(
            self, name="s_cascade_decoder", flag="--s-cascade-decoder", what="decoder",
            model_type="s-cascade decoder", pipeline=DECODER_PIPELINE,
            arguments=DECODER_ARGUMENTS, unet_slot="decoder", load_unet=_decoder_unet,
            prepare=register_paella)

    # ------------------------------------------------------------------- checks

    def check(self, request: RenderRequest) -> None:
        super().check(request)
        values = request.values
        if values.get("s_cascade_decoder") is None:
            raise DgenerateError(
                "--model-type s-cascade needs --s-cascade-decoder: the prior (the main model) "
                "makes image embeddings, and the decoder turns them into pictures (for "
                "example --s-cascade-decoder \"stabilityai/stable-cascade;dtype=float16\" "
                "with the prior stabilityai/stable-cascade-prior)")
        unet = self.prior_unet()
        if unet is not None:
            check_unet_uri(unet, self.context)
        self.second.check(values)

    def help_text(self, request: RenderRequest) -> str | None:
        """``--second-model-schedulers help`` / ``helpargs`` and
        ``--second-model-text-encoders help``: about the decoder."""
        text = self.second.help_text(request)
        return super().help_text(request) if text is None else text

    # ---------------------------------------------------------- the prior's parts

    def sub_models(self) -> list[Any]:
        # --unet is this family's to load: the UNet kind loads UNet2DConditionModels, and
        # the prior's UNet is a StableCascadeUNet (its URI is still checked by the kind)
        return [sub_model for sub_model in super().sub_models() if sub_model.slot != "unet"]

    def prior_unet(self) -> UNetUri | None:
        text = self.source.values.get("unet")
        return None if text is None else parse_unet_uri(text, self.context, option="--unet")

    def loading_key(self) -> tuple[Hashable, ...]:
        unet = self.prior_unet()
        return (None if unet is None else unet_key(unet),)

    def loading_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        unet = self.prior_unet()
        if unet is not None:
            arguments["prior"] = load_cascade_unet(
                unet, self.context, component="prior", dtype=self.dtype, device=self.device,
                variant=self.source.variant, token=self.source.auth_token)
        return arguments

    def load(self, job: Job) -> Any:
        prior = self.base()  # one pipeline for txt2img and image prompts
        encoder = getattr(prior, "image_encoder", None)
        if job.mode is Mode.IMG2IMG and encoder is None:
            raise DgenerateError(
                f"image prompts (--image-seeds) need an image encoder, and the Stable Cascade "
                f"prior {self.source.path!r} has none: give one with --image-encoder (a CLIP "
                "vision model with projection)")
        if encoder is not None and not _fits(prior.feature_extractor, encoder):
            # an --image-encoder of another input size than the prior's own processor (or a
            # prior without one): CLIP's preprocessing at the encoder's size
            prior.feature_extractor = _image_processor(encoder)
        self.decoder()  # a decoder that cannot load fails before the first job runs
        return prior

    def load_key(self, job: Job) -> Hashable:
        return self.base_key()

    # ---------------------------------------------------------------- decoder

    def decoder(self) -> Any:
        """The decoder pipeline, from the kernel's ``pipeline`` cache."""
        return self.second.pipeline()

    def decoder_job(self, job: Job) -> Job:
        """The job as the decoder runs it: its steps, guidance, scheduler and prompt."""
        return self.second.job(job, steps=DECODER_STEPS, guidance=DECODER_GUIDANCE, sigmas=None,
                               prompt=job.values.get("second_model_prompts") or job.prompt)

    def decoder_arguments(self, job: Job, decoder: Any, embeddings: Any) -> dict[str, Any]:
        second = self.decoder_job(job)
        decoder.scheduler = self.second.scheduler(decoder, second.scheduler, job.values)
        batch = job.batch_size
        arguments: dict[str, Any] = {
            # the prior and the decoder may differ in precision (bf16 prior, fp16 decoder)
            "image_embeddings": embeddings.to(dtype=decoder.decoder.dtype),
            "prompt": [second.prompt.positive] * batch,
            "num_inference_steps": second.inference_steps,
            "guidance_scale": second.guidance_scale,
            "generator": self.generators(job),
            "output_type": "pil",
        }
        if second.prompt.negative:
            arguments["negative_prompt"] = [second.prompt.negative] * batch
        return arguments

    # ---------------------------------------------------------- call arguments

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        """The prior's call: the prompt, image prompts, and a size the decoder can take."""
        self.prepare(job, pipeline)
        batch = job.batch_size
        multiple = float(pipeline.config.resolution_multiple)
        decoder = self.decoder()
        scale = float(decoder.config.latent_dim_scale)
        patch = int(decoder.decoder.config.patch_size)
        arguments: dict[str, Any] = {
            "prompt": [job.prompt.positive] * batch,
            "num_inference_steps": job.inference_steps,
            "guidance_scale": job.guidance_scale,
            "generator": self.generators(job),
            "height": prior_side(job.height, multiple, scale, patch),
            "width": prior_side(job.width, multiple, scale, patch),
            "output_type": "pt",
        }
        if job.prompt.negative:
            arguments["negative_prompt"] = [job.prompt.negative] * batch
        if job.mode is Mode.IMG2IMG:
            arguments["images"] = _distinct(job.images)
        for sub_model in self.sub_models():
            if sub_model.given(job.values):
                arguments.update(sub_model.call_arguments(job, pipeline, job.values))
        return arguments

    # -------------------------------------------------------------------- call

    def call(self, job: Job, pipeline: Any, arguments: dict[str, Any]) -> RenderOutput:
        prior = self.run_pipeline(job, pipeline, arguments, what="prior steps")
        decoder = self.decoder()
        second = self.decoder_job(job)
        with self.second.weighed(job, decoder, self.decoder_arguments(
                job, decoder, prior.image_embeddings)) as arguments:
            result = self.run_pipeline(second, decoder, arguments,
                                       steps=second.inference_steps, what="decoder steps")
        images = [self._sized(image, job) for image in result.images]
        info = self.info(job, pipeline)
        info["decoder_scheduler"] = type(decoder.scheduler).__name__
        return RenderOutput(images, info)

    def _sized(self, image: Any, job: Job) -> Any:
        """The decoder's picture at the job's size: the models work in steps of about 42.67
        pixels (exact at multiples of 128), so other sizes are resized to."""
        size = (job.width, job.height)
        if image.size == size:
            return image
        from PIL import Image

        self.context.debug(f"the decoder made {image.size[0]}x{image.size[1]} pixels; resized "
                           f"to {size[0]}x{size[1]}")
        return image.resize(size, Image.Resampling.LANCZOS)


def _fits(processor: Any, encoder: Any) -> bool:
    """Whether ``processor`` makes images of the size ``encoder`` takes."""
    crop = getattr(processor, "crop_size", None) or {}
    return processor is not None and crop.get("height") == int(encoder.config.image_size)


def _image_processor(encoder: Any) -> Any:
    """A CLIP image processor for ``encoder``'s input size (CLIP's normalization)."""
    from transformers import CLIPImageProcessor

    side = int(encoder.config.image_size)
    return CLIPImageProcessor(size={"shortest_edge": side},
                              crop_size={"height": side, "width": side})
