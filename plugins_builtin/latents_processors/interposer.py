"""The ``interposer`` latents processor.

This module stays light to import (``--latents-processor-help interposer`` reads the
class below): torch, safetensors and the hub client are imported when an
interposer is created.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from dgenerate.plugin_api import Arg, DgenerateError, LatentsProcessor, PluginContext
from dgenerate.plugin_api.caching import cached

if TYPE_CHECKING:
    import torch

__all__ = ["CONVERSIONS", "SPACES", "Interposer", "LatentSpace"]


@dataclasses.dataclass(frozen=True)
class LatentSpace:
    """A model family's latents: ``scaled = (raw - shift) * scaling``, where ``raw`` is what
    its VAE (or VQGAN) encodes, the space the converters were trained in."""

    name: str
    channels: int
    scaling: float
    shift: float = 0.0


SPACES: dict[str, LatentSpace] = {
    "v1": LatentSpace("Stable Diffusion 1.x / 2.x", 4, 0.18215),
    "xl": LatentSpace("SDXL", 4, 0.13025),
    "v3": LatentSpace("Stable Diffusion 3", 16, 1.5305, 0.0609),
    "fx": LatentSpace("Flux.1", 16, 0.3611, 0.1159),
    # Stable Cascade decodes with its VQGAN (stage A) after multiplying the decoder's
    # latents by the VQGAN's scale factor 0.3764; those latents have a quarter of the
    # image's size, not an eighth
    "ca": LatentSpace("Stable Cascade (stage A/B)", 4, 1 / 0.3764),
}

#: (source, target) -> scale of the height and width
CONVERSIONS: dict[tuple[str, str], float] = {
    **{(source, target): 1.0 for source in ("v1", "xl", "v3") for target in ("v1", "xl", "v3")
       if source != target},
    ("fx", "v1"): 1.0, ("fx", "xl"): 1.0, ("fx", "v3"): 1.0,
    ("ca", "v1"): 0.5, ("ca", "xl"): 0.5, ("ca", "v3"): 0.5,
}

_DEVICE = re.compile(r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")

#: converters of interposers created without a kernel context (no object cache to use)


class Interposer(LatentsProcessor):
    """Convert latents from one model family's latent space to another's.

    A small pretrained network (the SD-Latent-Interposer v4.0 converters by
    city96) translates the latents directly, without decoding them to an image
    and encoding that again. Use it on fully denoised latents, typically with
    --img2img-latents-processors when latents written by one model type
    (--image-format pt) become the img2img input of another. It does not work on
    partially denoised (noisy) latents.

    source: the latent space of the input: v1 (Stable Diffusion 1.x and 2.x), xl
    (SDXL), v3 (Stable Diffusion 3), fx (Flux.1) or ca (Stable Cascade, the
    latents of its decoder). target: the latent space of the result: v1, xl or
    v3. Supported conversions: v1, xl and v3 into each other; fx and ca into v1,
    xl or v3. A source equal to the target leaves the latents unchanged.

    The converters work on the latents the VAEs produce; dgenerate's latents are
    scaled for the diffusion model (and shifted, for SD3 and Flux). The
    interposer undoes the source's VAE scaling before converting and applies the
    target's after, with the factors of the reference VAEs: v1 0.18215, xl
    0.13025, v3 1.5305 (shift 0.0609), fx 0.3611 (shift 0.1159), ca 1/0.3764. The
    result has the target's channel count (4 for v1 and xl, 16 for v3) and, for
    ca, half the height and width of the input (Stable Cascade's latents have a
    quarter of the image's size, the others an eighth).

    The converter of each conversion, a file of about 5 MB, is downloaded once
    from the Hugging Face repository city96/SD-Latent-Interposer (folder v4.0)
    into the Hugging Face cache; with --offline-mode only the cache is used. It is
    loaded when the processor is created and kept in dgenerate's "interposer"
    object cache.

    device: where the converter runs, e.g. cpu, cuda, cuda:1; defaults to the
    value of --device. model-offload: move the converter back to the CPU after
    each call, to free device memory at the price of moving it again next time.
    """

    def __init__(
        self,
        *,
        source: Annotated[
            Literal["v1", "xl", "v3", "fx", "ca"],
            Arg(help="latent space of the input: v1, xl, v3, fx or ca")],
        target: Annotated[
            Literal["v1", "xl", "v3"], Arg(help="latent space of the result: v1, xl or v3")],
        device: Annotated[str, Arg(help="device to run on, e.g. cpu, cuda:1")] = "cpu",
        model_offload: Annotated[
            bool, Arg(help="move the converter back to the CPU after each call")] = False,
        context: Annotated[PluginContext | None, Arg(hidden=True)] = None,
    ) -> None:
        super().__init__(device=device, model_offload=model_offload)
        self.source = _check_space("source", source, SPACES)
        self.target = _check_space("target", target, ("v1", "xl", "v3"))
        self._context = context
        self._model: Any = None
        if self.source == self.target:
            return
        from dgenerate.plugin_api.diffusion.devices import resolve_device

        requested = str(device).strip().lower()
        if not _DEVICE.match(requested):
            raise DgenerateError(
                f"interposer: device={device!r} is not auto, cpu, cuda, cuda:N, mps, xpu or "
                "xpu:N")
        self.device = resolve_device(requested, what="interposer: device=")
        self._model = self._load()

    # ------------------------------------------------------------------ loading

    def _load(self) -> Any:
        from .interposer_weights import load_converter, locate_weights

        context = self._context
        source, target = SPACES[self.source], SPACES[self.target]
        path = locate_weights(self.source, self.target,
                              offline=bool(getattr(context, "offline_mode", False)))
        real = os.path.realpath(path)
        status = os.stat(real)
        key = (real, status.st_mtime_ns, status.st_size, self.source, self.target)

        def create() -> Any:
            converter = load_converter(path, channels_in=source.channels,
                                       channels_out=target.channels,
                                       scale=CONVERSIONS[self.source, self.target])
            _debug(context, f"loaded the {self.source}-to-{self.target} converter from {path}")
            return converter

        return cached(context, "interposer", key, create, size=status.st_size)

    # --------------------------------------------------------------- processing

    def process(self, latents: torch.Tensor, *, pipeline: Any = None) -> torch.Tensor:
        if self._model is None:  # source == target
            return latents
        import torch

        source, target = SPACES[self.source], SPACES[self.target]
        if latents.ndim != 4 or latents.shape[1] != source.channels:
            raise DgenerateError(
                f"interposer: source={self.source} ({source.name}) takes latents with "
                f"{source.channels} channels, but these have the shape "
                f"{tuple(latents.shape)}; check the source argument (Flux latents must be "
                "unpacked to (batch, 16, height/8, width/8))")
        model = self._model
        try:
            with torch.no_grad():
                model.to(self.device)
                raw = latents.to(self.device, torch.float32) / source.scaling + source.shift
                converted = model(raw)
                return (converted - target.shift) * target.scaling
        finally:
            if self.model_offload:
                _offload(model, self.device)


def _check_space(argument: str, value: Any, allowed: Any) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise DgenerateError(
            f"interposer: {argument}={value!r} is not one of {', '.join(allowed)}")
    return text


def _offload(model: Any, device: str) -> None:
    import torch

    model.to("cpu")
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _debug(context: Any, message: str) -> None:
    debug = getattr(context, "debug", None)
    if callable(debug):
        debug(f"interposer: {message}")

