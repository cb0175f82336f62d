"""The network of the SD-Latent-Interposer v4.0 converters (heavy: imports torch).

A small convolutional network that maps the (unscaled) VAE latents of one model
family to those of another. The attribute names and the order of the layers
below are dictated by the published weight files, whose state-dict keys they
must reproduce:

* ``head``: widens ``ch_in`` channels to ``ch_mid`` along two paths added together
  and passed through a ReLU: ``head.short`` (one 3x3 convolution) and ``head.long``
  (three 3x3 convolutions with SiLU between them, keys ``long.0``/``2``/``4``);
* ``core``: a nearest-neighbour resampling by ``scale`` (index 0, no weights), then
  ``blocks`` residual blocks (each: a batch norm, then three 3x3 convolutions with
  SiLU between them added to the normalized input, then a ReLU), a batch norm and a
  SiLU;
* ``tail``: one 3x3 convolution from ``ch_mid`` to ``ch_out`` channels.

The training-only dropout layers sit after the last convolution of each path, so
leaving them out changes neither the keys nor the inference result.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["InterposerNetwork", "shape_of"]


def _conv(channels_in: int, channels_out: int) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, kernel_size=3, stride=1, padding=1)


def _three_convolutions(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(_conv(channels_in, channels_out), nn.SiLU(),
                         _conv(channels_out, channels_out), nn.SiLU(),
                         _conv(channels_out, channels_out))


class _Widen(nn.Module):
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.short = _conv(channels_in, channels_out)
        self.long = _three_convolutions(channels_in, channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.long(x) + self.short(x))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.long = _three_convolutions(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normalized = self.norm(x)
        return torch.relu(self.long(normalized) + normalized)


class InterposerNetwork(nn.Module):
    """``ch_in`` channels in, ``ch_out`` out, the height and width multiplied by ``scale``."""

    def __init__(self, *, ch_in: int, ch_out: int, ch_mid: int = 64, blocks: int = 12,
                 scale: float = 1.0) -> None:
        super().__init__()
        self.ch_in, self.ch_out, self.scale = ch_in, ch_out, scale
        self.head = _Widen(ch_in, ch_mid)
        self.core = nn.Sequential(
            nn.Upsample(scale_factor=scale, mode="nearest"),
            *(_Residual(ch_mid) for _ in range(blocks)),
            nn.BatchNorm2d(ch_mid),
            nn.SiLU(),
        )
        self.tail = _conv(ch_mid, ch_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.core(self.head(x)))


def shape_of(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """``ch_in``, ``ch_out``, ``ch_mid`` and ``blocks`` of a converter, read from its weights
    (the published converters have 64 channels inside and 12 blocks; tests use fewer).
    Raises ``KeyError`` when the weights are not those of this network."""
    short = state["head.short.weight"]
    blocks = sum(1 for key in state if key.startswith("core.") and key.endswith(".norm.weight"))
    return {"ch_in": int(short.shape[1]), "ch_mid": int(short.shape[0]),
            "ch_out": int(state["tail.weight"].shape[0]), "blocks": blocks}
