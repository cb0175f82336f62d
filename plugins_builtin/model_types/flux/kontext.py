"""``--model-type flux-kontext``: Flux Kontext on diffusers' FluxKontextPipeline."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from dgenerate.plugin_api import Job, Mode

from .family import Flux

__all__ = ["FluxKontext"]


class FluxKontext(Flux):
    """Flux Kontext models (FLUX.1 Kontext): images made, or edited, as the prompt says.

    txt2img without ``--image-seeds``; with an image it is the context the prompt talks
    about ("make the car red"): Kontext reads its latents beside the noise rather than
    starting from them, so there is no strength. One pipeline serves both modes.

    Sizes follow dgenerate's rules rather than the pipeline's: ``--output-size`` (or the
    input image's size, or the model's native size) is the size made; the pipeline would
    otherwise rescale to about one megapixel and move the input image to a resolution
    Kontext was trained at.
    """

    pipelines = {Mode.TXT2IMG: "FluxKontextPipeline", Mode.IMG2IMG: "FluxKontextPipeline"}
    variant_pipelines = {}  # no ControlNet pipeline reads Kontext context images

    def load_key(self, job: Job) -> Hashable:
        return self.base_key()  # both modes run the loaded pipeline itself

    def load(self, job: Job) -> Any:
        return self.base()

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        # the area the pipeline scales the requested size to: the requested one
        arguments.update(max_area=job.width * job.height, _auto_resize=False)
        return arguments
