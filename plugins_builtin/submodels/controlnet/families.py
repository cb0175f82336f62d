"""Which ControlNet classes go with which model type (no torch here).

UNet families (sd, sdxl, kolors) take diffusers' ``ControlNetModel``, and union ControlNets
are a class of their own (``ControlNetUnionModel``). The transformer families have their
own classes: SD3 has no union ControlNets, and a Flux union ControlNet is a
``FluxControlNetModel`` whose config gives a number of control modes (``num_mode``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["FLUX", "SD3", "UNET", "ControlNetClasses", "classes_for", "config_is_union",
           "mode_count"]


@dataclasses.dataclass(frozen=True)
class ControlNetClasses:
    """The diffusers class names of a model type's ControlNets."""

    #: a plain ControlNet
    plain: str
    #: a union ControlNet (None: the model type has none; equal to ``plain`` when union models
    #: are the plain class with control modes in their config)
    union: str | None
    #: several ControlNets used together
    multi: str
    #: the config key giving the number of control modes of a union ControlNet
    modes_key: str = "num_control_type"
    #: the weights hold a transformer's blocks, not a UNet's encoder
    transformer: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name in (self.plain, self.union) if name))

    def describe(self) -> str:
        return " or ".join(self.names)


UNET = ControlNetClasses(plain="ControlNetModel", union="ControlNetUnionModel",
                         multi="MultiControlNetModel")
SD3 = ControlNetClasses(plain="SD3ControlNetModel", union=None, multi="SD3MultiControlNetModel",
                        transformer=True)
FLUX = ControlNetClasses(plain="FluxControlNetModel", union="FluxControlNetModel",
                         multi="FluxMultiControlNetModel", modes_key="num_mode",
                         transformer=True)

_BY_PREFIX = (("sd3", SD3), ("flux", FLUX))


def classes_for(model_type: str | None) -> ControlNetClasses:
    """The ControlNet classes of ``model_type`` (sd3 and flux by name, UNet ones otherwise)."""
    for prefix, classes in _BY_PREFIX:
        if (model_type or "").startswith(prefix):
            return classes
    return UNET


def config_is_union(config: Mapping[str, Any]) -> bool:
    """Whether a saved ControlNet config is of a union ControlNet, whatever the family."""
    name = config.get("_class_name")
    if name == UNET.union:
        return True
    return name == FLUX.plain and config.get(FLUX.modes_key) is not None


def mode_count(model: Any, classes: ControlNetClasses) -> int | None:
    """How many control modes the loaded ``model`` has (None: not a union ControlNet)."""
    if classes.union is None or type(model).__name__ != classes.union:
        return None
    count = getattr(model.config, classes.modes_key, None)
    return None if count is None else int(count)
