"""``--model-type flux-fill``: inpainting with a Flux Fill model on diffusers' FluxFillPipeline."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode

from .family import Flux

__all__ = ["FluxFill", "fill_channels"]


def fill_channels(latent_channels: int, vae_scale_factor: int) -> int:
    """The input channels of a Flux Fill transformer: the packed (2x2) noise latents, the
    packed latents of the masked image, and the mask folded from pixels into latents
    (``vae_scale_factor`` squared values per latent pixel) and packed too."""
    return 4 * (2 * latent_channels + vae_scale_factor ** 2)


class FluxFill(Flux):
    """Flux Fill models (FLUX.1 Fill): repaint the masked part of an image as the prompt says.

    Inpainting only: an image and a mask from ``--image-seeds``. The transformer sees the
    masked image and the mask beside the noise, so it fills the hole in context; with
    ``--image-seed-strengths 1`` (the strength these models are made for) nothing of the
    masked part is kept. Prompts, guidance, ``--second-prompts`` and
    ``--max-sequence-length`` are the ones of ``flux``.
    """

    pipelines = {Mode.INPAINT: "FluxFillPipeline"}
    variant_pipelines = {}  # no Flux ControlNet pipeline takes a Fill transformer

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        expected = fill_channels(pipeline.vae.config.latent_channels, pipeline.vae_scale_factor)
        taken = pipeline.transformer.config.in_channels
        if taken != expected:
            raise DgenerateError(
                f"{self.source.path!r} is not a Flux Fill model: its transformer takes {taken} "
                f"input channels, and --model-type flux-fill needs {expected} (the noise, the "
                "masked image and the mask side by side); load a Flux model with --model-type "
                "flux")
        return super().call_arguments(job, pipeline)
