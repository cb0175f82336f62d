"""Registration module of the ``freeu`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

import math
from typing import NamedTuple

from dgenerate.plugin_api import OptionSpec, PipelineExtensionSpec, ValueSyntaxError, hookimpl

__all__ = ["FREEU_PARAMS", "FreeUParams", "freeu_params"]

DGENERATE_API_VERSION = "0.3"  # OptionSpec and pipeline extensions


class FreeUParams(NamedTuple):
    """The four FreeU factors; ``str`` writes them back as ``s1,s2,b1,b2``."""

    s1: float
    s2: float
    b1: float
    b2: float

    def __str__(self) -> str:
        return ",".join(repr(value) for value in self)


def freeu_params(text: str) -> FreeUParams:
    """``"s1,s2,b1,b2"``: exactly four finite numbers."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4:
        raise ValueSyntaxError(f"{text!r} has {len(parts)} values; FreeU takes four numbers "
                               "s1,s2,b1,b2 (such as 0.9,0.2,1.1,1.2)")
    values = []
    for name, part in zip(FreeUParams._fields, parts, strict=True):
        try:
            value = float(part)
        except ValueError:
            raise ValueSyntaxError(f"{text!r}: {name} {part!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueSyntaxError(f"{text!r}: {name} {part!r} is not a finite number")
        values.append(value)
    return FreeUParams(*values)


FREEU_PARAMS = OptionSpec(
    flags=("-fu", "--freeu-params"), type=freeu_params, axis=True, metavar="CSV_FLOAT",
    group="FreeU",
    help='FreeU parameters s1,s2,b1,b2 to try, such as "0.9,0.2,1.1,1.2" (every value is '
         "tried in turn). FreeU improves image quality at no cost in speed by re-balancing "
         "what the UNet's skip connections (s1, s2 damp them) and its backbone (b1, b2 "
         "amplify it) contribute. See https://github.com/ChenyangSi/FreeU for values known "
         "to work well per model.")


@hookimpl
def dgenerate_pipeline_extensions():
    yield PipelineExtensionSpec(
        name="freeu",
        summary="FreeU: re-balance the UNet's skip and backbone features (--freeu-params).",
        target=".extension:FreeU",
        model_types=("sd", "sdxl", "kolors"),
        options=(FREEU_PARAMS,),
    )
