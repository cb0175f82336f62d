"""The multiply latents processor."""

from typing import Annotated

import torch

from dgenerate.plugin_api import Arg, LatentsProcessor


class Multiply(LatentsProcessor):
    """Multiply every latent value by "factor".

    Values above 1 exaggerate what the latents encode, values below 1 soften it.
    """

    def __init__(self, factor: Annotated[float, Arg(help="the multiplier")] = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def process(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.to(self.device) * self.factor
