"""Base class of latents processors (provisional, not called yet).

Nothing runs latents processors yet: the options that will (``--latents-processors``
and friends) do not exist yet, and this interface may change when they arrive.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Annotated

from ..args import Arg

if TYPE_CHECKING:
    import torch

__all__ = ["LatentsProcessor"]


class LatentsProcessor(abc.ABC):
    """An operation on a batch of latents tensors, configured by URI arguments
    (provisional, not called yet).

    ``device`` defaults to the value of ``--device`` when the kernel creates the
    processor; ``model-offload`` asks the processor to move any models back to
    the CPU after each call.
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
    def process(self, latents: torch.Tensor) -> torch.Tensor:
        """Return processed latents with the same batch size."""

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        return self.process(latents)
