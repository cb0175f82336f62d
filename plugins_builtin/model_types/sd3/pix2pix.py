"""``--model-type sd3-pix2pix``: InstructPix2Pix editing with a Stable Diffusion 3 transformer."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode, RenderRequest

from .family import StableDiffusion3

__all__ = ["StableDiffusion3Pix2Pix"]

#: the VAE's x8 times the transformer's 2x2 patches (every SD3 model)
_SIDE_MULTIPLE = 16


class StableDiffusion3Pix2Pix(StableDiffusion3):
    """SD3 InstructPix2Pix models: the prompt says how to change the input image.

    img2img only, with no strength and no mask: ``--image-guidance-scales`` sets how closely
    the result keeps to the input image, ``--guidance-scales`` how closely it follows the
    prompt. The prompts, text encoders and ``--max-sequence-length`` are the ones of
    ``sd3``. The output has the input image's size (after ``--output-size``).
    """

    pipelines = {
        Mode.IMG2IMG: "dgenerate.plugins_builtin.model_types.sd3.pix2pix_pipeline:"
                      "StableDiffusion3InstructPix2PixPipeline",
    }
    variant_pipelines = {}  # the SD3 ControlNet pipeline knows no input-image channels

    def check(self, request: RenderRequest) -> None:
        super().check(request)
        size = request.output_size
        if size is not None and (size.width % _SIDE_MULTIPLE or size.height % _SIDE_MULTIPLE):
            raise DgenerateError(
                f"--output-size {size.width}x{size.height}: --model-type {self.name} makes "
                f"images whose sides are multiples of {_SIDE_MULTIPLE} (the VAE's 8 times "
                "the transformer's 2x2 patches)")

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        if job.width % _SIDE_MULTIPLE or job.height % _SIDE_MULTIPLE:
            raise DgenerateError(
                f"job {job.number}: --model-type {self.name} makes images whose sides are "
                f"multiples of {_SIDE_MULTIPLE}, and this one is {job.width}x{job.height} "
                "(from the input image's size or aspect); give --output-size WIDTHxHEIGHT "
                f"with both sides multiples of {_SIDE_MULTIPLE}")
        channels = pipeline.vae.config.latent_channels
        taken = pipeline.transformer.config.in_channels
        if taken != 2 * channels:
            raise DgenerateError(
                f"{self.source.path!r} is not an InstructPix2Pix SD3 model: its transformer "
                f"takes {taken} input channels, and --model-type sd3-pix2pix needs "
                f"{2 * channels} (the latents of the noise and of the input image side by "
                "side); load it with --model-type sd3")
        arguments = super().call_arguments(job, pipeline)
        arguments.update(image_guidance_scale=job.values["image_guidance_scales"],
                         width=job.width, height=job.height)
        return arguments
