"""Base class of quantization backends (provisional until quantization lands)."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["Quantizer"]


class Quantizer(abc.ABC):
    """Describes how to quantize a model while it loads.

    The loaders ask for the library-specific configuration object they pass as
    ``quantization_config`` to ``from_pretrained``.
    """

    @abc.abstractmethod
    def diffusers_config(self) -> Any:
        """The configuration for a diffusers model (UNet, transformer, ControlNet ...)."""

    @abc.abstractmethod
    def transformers_config(self) -> Any:
        """The configuration for a transformers model (text encoders)."""
