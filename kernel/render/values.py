"""The values of declared options for one invocation: converted, checked, defaulted."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, ValueSyntaxError
from dgenerate.plugin_api.options import OptionSpec
from dgenerate.plugin_api.values import float_in, int_in

from .declared import DeclaredOption

#: seeds are 64-bit: the largest one a generator accepts
MAX_SEED = 2**64 - 1
#: documented upper bounds, checked before anything is allocated
MAX_GEN_SEEDS = 100_000
MAX_BATCH_SIZE = 1024

# converters of the kernel's per-job values, shared by their options and by prompts
# that set them (<inference-steps: 50>)
seed_value = int_in(0, MAX_SEED)
steps_value = int_in(1)
guidance_value = float_in(at_least=0.0)
strength_value = float_in(above=0.0, at_most=1.0)
batch_size_value = int_in(1, MAX_BATCH_SIZE)

__all__ = ["declared_values"]


def _convert(spec: OptionSpec, text: str) -> Any:
    try:
        value = spec.type(text)
    except (ValueSyntaxError, ValueError, TypeError) as error:
        detail = str(error) if isinstance(error, ValueSyntaxError) else ""
        raise DgenerateError(f"{spec.flag}: {detail or f'{text!r} is not valid'}"
                             + ("" if detail else _expected(spec))) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise DgenerateError(f"{spec.flag}: {text!r} is not a finite number")
    if spec.choices is not None and value not in spec.choices:
        raise DgenerateError(f"{spec.flag}: {text!r} is not one of "
                             f"{', '.join(map(str, spec.choices))}")
    return value


def _expected(spec: OptionSpec) -> str:
    name = getattr(spec.type, "__name__", "")
    words = {"int": "a whole number", "float": "a number"}
    return f" (expected {words[name]})" if name in words else ""


def _applies(option: DeclaredOption, model_type: str, given: set[str]) -> str | None:
    """Why the option does not apply, or None when it does."""
    spec = option.spec
    if not spec.applies_to(model_type):
        return (f"{spec.flag} does not apply to --model-type {model_type}; it applies to "
                f"{', '.join(spec.model_types)}")
    missing = [flag for flag in option.requires_for(model_type) if flag not in given]
    if missing:
        return f"{spec.flag} needs {' and '.join(missing)}"
    return None


def declared_values(options: argparse.Namespace, declared: Iterable[DeclaredOption],
                    model_type: str, plugin_dests: Iterable[str] = ()) -> dict[str, Any]:
    """Every declared option's value by name: a tuple for an axis (``(None,)`` when it has
    no value), the value for a single option, ``None`` when not given and without default.
    Options added the argparse way (``plugin_dests``) are passed on as parsed."""
    declared = list(declared)
    given = {flag for option in declared for flag in option.spec.flags
             if getattr(options, option.spec.name, None) is not None}
    values: dict[str, Any] = {dest: getattr(options, dest, None) for dest in plugin_dests}
    for option in declared:
        spec = option.spec
        raw = getattr(options, spec.name, None)
        problem = _applies(option, model_type, given)
        if raw is not None and problem:
            raise DgenerateError(problem)
        if raw is None:
            default = None if problem else spec.default
            values[spec.name] = (default or (None,)) if spec.axis else default
        elif spec.switch:
            values[spec.name] = True
        elif spec.axis or spec.several:
            values[spec.name] = tuple(_convert(spec, text) for text in raw)
        else:
            values[spec.name] = _convert(spec, raw)
    return values
