"""Base class of quantization backends: how weights are quantized while they load."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["Quantizer"]


class Quantizer(abc.ABC):
    """Describes how to quantize a model while it loads.

    Selected with ``--quantizer URI``. The diffusion toolkit's pipeline loader asks
    for the library-specific configuration objects and passes them to
    ``from_pretrained`` (through diffusers' ``PipelineQuantizationConfig``, one entry
    per pipeline component); ``None`` leaves that kind of component as it is.
    """

    @abc.abstractmethod
    def diffusers_config(self) -> Any:
        """The configuration for a diffusers model (UNet, transformer, ControlNet ...)."""

    @abc.abstractmethod
    def transformers_config(self) -> Any:
        """The configuration for a transformers model (text encoders)."""
