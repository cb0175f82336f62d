"""Value types and their parsers, shared by the kernel and plugins.

These are the small syntaxes that appear all over the command line and inside
URIs: sizes (``512``, ``512x768``), paddings (``32``, ``10x20``,
``10x20x30x40``), comma separated numbers, booleans and the ``+`` delimiter that
groups processor chains. The kernel's URI binder converts argument values with
them, and plugins (sub-commands especially) call them directly.

All parsers raise :class:`~dgenerate.plugin_api.errors.ValueSyntaxError` with a
message that names the offending text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from .errors import ValueSyntaxError

__all__ = [
    "CHAIN_GROUP_DELIMITER",
    "MAX_IMAGE_SIDE",
    "Padding",
    "Prompt",
    "Size",
    "align_size",
    "check_chain_groups",
    "float_in",
    "format_size",
    "int_in",
    "parse_bool",
    "parse_csv_floats",
    "parse_csv_ints",
    "parse_int",
    "parse_padding",
    "parse_size",
    "split_chain_groups",
]


def _what(what: str | None, default: str) -> str:
    return what or default


def parse_int(text: str, *, what: str | None = None, minimum: int | None = None) -> int:
    """Parse a whole number such as ``12`` or ``-3``."""
    value = text.strip() if isinstance(text, str) else text
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueSyntaxError(
            f"{_what(what, 'value')} {text!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ValueSyntaxError(
            f"{_what(what, 'value')} {text!r} must be at least {minimum}")
    return number


def parse_bool(text: str, *, what: str | None = None) -> bool:
    """Parse ``true`` or ``false``, in any letter case."""
    value = text.strip().lower() if isinstance(text, str) else None
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueSyntaxError(f"{_what(what, 'value')} {text!r} is not a boolean (true or false)")


#: The largest width or height, in pixels, that dgenerate creates or resizes to. Sizes are
#: checked against it before anything is allocated, so a typo (99999999) is an error
#: instead of exhausting memory. 16384 is beyond what diffusion models render and what
#: common image formats and viewers handle well.
MAX_IMAGE_SIDE = 16384


class Size(NamedTuple):
    """A width and height in pixels."""

    width: int
    height: int

    @classmethod
    def from_uri_value(cls, text: str) -> Size:
        return parse_size(text)

    def __str__(self) -> str:
        return format_size(self)


def format_size(size: Iterable[int]) -> str:
    """``(512, 768)`` -> ``"512x768"``."""
    return "x".join(str(int(dimension)) for dimension in size)


def parse_size(text: str, *, align: int | None = None, what: str | None = None,
               maximum: int | None = None) -> Size:
    """Parse ``WIDTHxHEIGHT``, or one number meaning a square.

    With ``align``, both dimensions must be multiples of it; the error names the
    nearest aligned size. With ``maximum`` (e.g. :data:`MAX_IMAGE_SIDE`) neither
    dimension may exceed it.
    """
    label = _what(what, "size")
    if not isinstance(text, str) or not text.strip():
        raise ValueSyntaxError(f"{label} {text!r} is empty; expected WIDTHxHEIGHT or WIDTH")
    parts = text.strip().lower().split("x")
    if len(parts) > 2:
        raise ValueSyntaxError(
            f"{label} {text!r} has more than two dimensions; expected WIDTHxHEIGHT or WIDTH")
    dimensions = []
    for part in parts:
        try:
            dimension = int(part.strip())
        except ValueError:
            raise ValueSyntaxError(
                f"{label} {text!r} is not WIDTHxHEIGHT or WIDTH with whole numbers") from None
        if dimension < 1:
            raise ValueSyntaxError(f"{label} {text!r} has a dimension below 1")
        if maximum is not None and dimension > maximum:
            raise ValueSyntaxError(
                f"{label} {text!r} has a dimension above the limit of {maximum} pixels")
        dimensions.append(dimension)
    size = Size(dimensions[0], dimensions[-1])
    if align is not None and (size.width % align or size.height % align):
        nearest = align_size(size, align)
        raise ValueSyntaxError(
            f"{label} {text!r} is not aligned to {align} pixels; "
            f"the nearest aligned size is {format_size(nearest)}")
    return size


def align_size(size: Iterable[int], align: int) -> Size:
    """Round each dimension to the nearest multiple of ``align`` (never below ``align``)."""
    if align < 1:
        raise ValueSyntaxError(f"alignment {align!r} must be at least 1")
    width, height = (max(align, math.floor(d / align + 0.5) * align) for d in size)
    return Size(width, height)


class Padding(NamedTuple):
    """Padding in pixels on each side."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def from_uri_value(cls, text: str) -> Padding:
        return parse_padding(text)

    def __str__(self) -> str:
        return "x".join(map(str, self))


def parse_padding(text: str, *, what: str | None = None) -> Padding:
    """Parse ``32`` (all sides), ``10x20`` (horizontal x vertical) or ``L x T x R x B``."""
    label = _what(what, "padding")
    parts = text.strip().lower().split("x") if isinstance(text, str) else []
    if len(parts) not in (1, 2, 4) or not text.strip():
        raise ValueSyntaxError(
            f"{label} {text!r} must be one number, HORIZONTALxVERTICAL, "
            "or LEFTxTOPxRIGHTxBOTTOM")
    values = []
    for part in parts:
        try:
            value = int(part.strip())
        except ValueError:
            raise ValueSyntaxError(f"{label} {text!r} must contain whole numbers") from None
        if value < 0:
            raise ValueSyntaxError(f"{label} {text!r} has a negative value")
        values.append(value)
    if len(values) == 1:
        return Padding(*(values * 4))
    if len(values) == 2:
        horizontal, vertical = values
        return Padding(horizontal, vertical, horizontal, vertical)
    return Padding(*values)


def _csv(text: str, convert, kind: str, what: str | None) -> list:
    label = _what(what, "value")
    if not isinstance(text, str) or not text.strip():
        raise ValueSyntaxError(f"{label} {text!r} is empty; expected comma separated {kind}s")
    result = []
    for item in text.split(","):
        try:
            result.append(convert(item.strip()))
        except ValueError:
            raise ValueSyntaxError(
                f"{label} {text!r}: {item.strip()!r} is not a {kind}") from None
    return result


def parse_csv_floats(text: str, *, what: str | None = None) -> list[float]:
    """Parse ``0.9,0.2,1.1`` into floats."""
    return _csv(text, float, "number", what)


def parse_csv_ints(text: str, *, what: str | None = None) -> list[int]:
    """Parse ``12`` or ``12,22`` into whole numbers."""
    return _csv(text, int, "whole number", what)


#: The argument that separates processor chains meant for different inputs.
CHAIN_GROUP_DELIMITER = "+"


def split_chain_groups(values: Sequence[str]) -> list[list[str]]:
    """Split processor URIs at bare ``+`` arguments into one chain per input.

    ``["a", "b", "+", "c"]`` -> ``[["a", "b"], ["c"]]``; a leading ``+`` gives an
    empty (do nothing) chain for the first input: ``["+", "c"]`` -> ``[[], ["c"]]``.
    Without any ``+`` the result is one chain (applied to every input by callers
    that treat a single chain as shared).
    """
    groups: list[list[str]] = [[]]
    for value in values:
        if value == CHAIN_GROUP_DELIMITER:
            groups.append([])
        else:
            groups[-1].append(value)
    return groups


def check_chain_groups(groups: Sequence[Sequence[str]], inputs: int, *, what: str) -> None:
    """Fail when there are more chains than inputs; fewer leave trailing inputs alone."""
    if len(groups) > inputs:
        raise ValueSyntaxError(
            f"{what}: {len(groups)} processor chains separated by '+' were given "
            f"for {inputs} input image{'s' if inputs != 1 else ''}; "
            "there may not be more chains than inputs")


class Prompt(NamedTuple):
    """A prompt as written on the command line: ``"positive; negative"``."""

    positive: str
    negative: str | None = None

    @classmethod
    def parse(cls, text: str) -> Prompt:
        """Split at the first ``;``; surrounding spaces are removed."""
        positive, separator, negative = text.partition(";")
        return cls(positive.strip(), negative.strip() if separator else None)

    def __str__(self) -> str:
        return self.positive if self.negative is None else f"{self.positive}; {self.negative}"


def float_in(*, above: float | None = None, at_least: float | None = None,
             at_most: float | None = None) -> Callable[[str], float]:
    """A converter of text to a finite float within bounds (an ``OptionSpec`` type)."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise ValueSyntaxError(f"{text!r} is not a number") from None
        if not math.isfinite(value):  # nan, inf
            raise ValueSyntaxError(f"{text!r} is not a finite number")
        if above is not None and value <= above:
            raise ValueSyntaxError(f"{text!r} must be greater than {above:g}")
        if at_least is not None and value < at_least:
            raise ValueSyntaxError(f"{text!r} must be at least {at_least:g}")
        if at_most is not None and value > at_most:
            raise ValueSyntaxError(f"{text!r} must be at most {at_most:g}")
        return value
    return convert


def int_in(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """A converter of text to a whole number within bounds (an ``OptionSpec`` type)."""
    def convert(text: str) -> int:
        value = parse_int(text, minimum=minimum)
        if maximum is not None and value > maximum:
            raise ValueSyntaxError(f"{text!r} is above the limit of {maximum}")
        return value
    return convert
