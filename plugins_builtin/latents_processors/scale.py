"""The ``scale`` latents processor (light to import: torch is used through the tensors)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

from dgenerate.plugin_api import Arg, LatentsProcessor, PluginArgumentError

if TYPE_CHECKING:
    import torch

__all__ = ["Scale"]


class Scale(LatentsProcessor):
    """Multiply latents by a factor.

    The operations run in this order: normalize (if asked), multiply by factor,
    clamp (if asked). They work in the model's scaled latent space, where the
    values of a typical latent are roughly within -4 to 4.

    factor: the number every value is multiplied by (default 1.0). Above 1
    strengthens what the latents hold (contrast, detail, and the noise of
    partially denoised latents), below 1 weakens it; 0 gives empty latents.

    clamp-min, clamp-max: after scaling, values below clamp-min are raised to
    it and values above clamp-max are lowered to it (default: no clamping).
    When both are given, clamp-min may not be larger than clamp-max.

    normalize: before scaling, shift and stretch each channel of each latent
    of the batch to mean 0 and standard deviation 1, the statistics of the
    pure noise a diffusion starts from (default false). A channel whose values
    are all equal only gets its mean removed.

    Works on any latents (any number of channels) and needs no pipeline.
    """

    def __init__(
        self,
        *,
        factor: Annotated[float, Arg(help="multiply every value by this")] = 1.0,
        clamp_min: Annotated[
            float | None, Arg(help="raise values below this to it, after scaling")] = None,
        clamp_max: Annotated[
            float | None, Arg(help="lower values above this to it, after scaling")] = None,
        normalize: Annotated[
            bool, Arg(help="first bring each channel to mean 0, standard deviation 1")] = False,
        device: Annotated[str, Arg(hidden=True)] = "cpu",
        model_offload: Annotated[bool, Arg(hidden=True)] = False,
    ) -> None:
        super().__init__(device=device, model_offload=model_offload)
        self.factor = _finite("factor", factor)
        self.clamp_min = None if clamp_min is None else _finite("clamp-min", clamp_min)
        self.clamp_max = None if clamp_max is None else _finite("clamp-max", clamp_max)
        if (self.clamp_min is not None and self.clamp_max is not None
                and self.clamp_min > self.clamp_max):
            raise PluginArgumentError(
                f"scale: clamp-min={clamp_min} is larger than clamp-max={clamp_max}; no value "
                "could satisfy both")
        self.normalize = bool(normalize)

    def process(self, latents: torch.Tensor, *, pipeline: Any = None) -> torch.Tensor:
        result = latents.float()
        if self.normalize:
            mean = result.mean(dim=(-2, -1), keepdim=True)
            deviation = result.std(dim=(-2, -1), keepdim=True, correction=0)
            result = (result - mean) / deviation.where(deviation > 0, 1.0)
        if self.factor != 1.0:
            result = result * self.factor
        if self.clamp_min is not None or self.clamp_max is not None:
            result = result.clamp(min=self.clamp_min, max=self.clamp_max)
        return result.to(latents.dtype)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PluginArgumentError(f"scale: {name}={value!r} is not a finite number")
    return float(value)
