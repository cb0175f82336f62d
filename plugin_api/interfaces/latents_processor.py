"""Base class of latents processors.

The render loop runs them on latents tensors: ``--latents-processors`` on raw
(partially denoised) latents inputs, ``--img2img-latents-processors`` on tensor
img2img inputs, ``--latents-post-processors`` on the latents a render writes.
"""

from __future__ import annotations

import abc
import inspect
from typing import TYPE_CHECKING, Annotated, Any

from ..args import Arg
from ..errors import PluginError

if TYPE_CHECKING:  # torch is imported by implementations, not by listings
    import torch

__all__ = ["LatentsProcessor"]


class LatentsProcessor(abc.ABC):
    """An operation on a batch of latents, configured by URI arguments.

    Subclasses declare their own keyword arguments in ``__init__`` (they become
    URI arguments), pass the common ones on with ``**kwargs`` and implement
    :meth:`process`. Callers use the instance as a function:
    ``processor(latents, pipeline=pipeline)``.

    ``latents`` is a ``(batch, channels, height, width)`` tensor in the model's
    *scaled* latent space, the space its denoising loop works in (VAE output times
    the VAE's scaling factor, after its shift where it has one; Flux latents
    unpacked to ``(batch, 16, height / 8, width / 8)``). ``pipeline`` is the diffusers
    pipeline the latents come from or go to, or ``None`` when there is none (a
    processor must then fall back to something sensible or say what it needs).

    ``device`` defaults to the value of ``--device`` when the kernel creates the
    processor; ``model-offload`` asks a processor that loads models to move them
    back to the CPU after each call.

    A processor written for the first version of this interface, whose
    ``process(latents)`` takes no ``pipeline``, keeps working: it is called
    without one.
    """

    def __init__(
        self,
        *,
        device: Annotated[str, Arg(help="device to run on, e.g. cpu, cuda:1")] = "cpu",
        model_offload: Annotated[
            bool, Arg(help="move models back to the CPU after each call")] = False,
    ) -> None:
        self.device = device
        self.model_offload = model_offload

    @abc.abstractmethod
    def process(self, latents: torch.Tensor, *, pipeline: Any = None) -> torch.Tensor:
        """Return processed latents with the same batch size (a new tensor, or the input
        when nothing changes); the channel count and size may change (``interposer``)."""

    def __call__(self, latents: torch.Tensor, *, pipeline: Any = None) -> torch.Tensor:
        if _takes_pipeline(type(self)):
            result = self.process(latents, pipeline=pipeline)
        else:
            result = self.process(latents)  # written against process(latents)
        _check_result(self, latents, result)
        if result.device != latents.device or result.dtype != latents.dtype:
            result = result.to(device=latents.device, dtype=latents.dtype)
        return result


_TAKES_PIPELINE: dict[type, bool] = {}


def _takes_pipeline(cls: type) -> bool:
    """Whether ``cls.process`` accepts ``pipeline=`` (by name or through ``**kwargs``)."""
    known = _TAKES_PIPELINE.get(cls)
    if known is None:
        parameters = inspect.signature(cls.process).parameters.values()
        known = any(
            parameter.kind is inspect.Parameter.VAR_KEYWORD
            or (parameter.name == "pipeline"
                and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY)
            for parameter in parameters)
        _TAKES_PIPELINE[cls] = known
    return known


def _check_result(processor: LatentsProcessor, latents: Any, result: Any) -> None:
    """A processor that returns something else than a batch of latents is a bug of the
    processor; say so here rather than deep inside the pipeline."""
    name = type(processor).__name__
    shape = getattr(result, "shape", None)
    if shape is None or not hasattr(result, "to"):
        raise PluginError(
            f"latents processor {name} returned {type(result).__name__}, not a tensor")
    if len(shape) != len(latents.shape) or shape[0] != latents.shape[0]:
        raise PluginError(
            f"latents processor {name} returned a tensor of shape {tuple(shape)} for latents "
            f"of shape {tuple(latents.shape)}; the number of dimensions and the batch size "
            "must stay the same")
