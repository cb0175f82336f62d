"""Converting text to a declared Python type: what typed plugin arguments are made of.

URI arguments (``resize;size=512``), sub-model arguments and the values of
options are text; a plugin declares their types with annotations
(:mod:`.args`). :func:`convert_value` turns text into a value of such a type:
``bool`` (true/false), ``int``, ``float``, ``str``, ``None``, unions and
optionals, ``Literal`` choices, enums, lists/tuples/sets (``a, b`` or a Python
literal), dicts (a Python literal), classes with a ``from_uri_value``
classmethod (``Size``, ``Padding`` ...) or any class taking one string.
"""

from __future__ import annotations

import ast
import collections.abc
import enum
import inspect
import types
import typing
from typing import Any, Literal, Union

from .args import format_type
from .errors import PluginArgumentError, ValueSyntaxError
from .values import parse_bool, parse_int

__all__ = ["convert_value"]

_SEQUENCE_ORIGINS = (list, tuple, set, frozenset, collections.abc.Sequence,
                     collections.abc.Collection, collections.abc.Iterable,
                     collections.abc.MutableSequence, collections.abc.Set)
_MAPPING_ORIGINS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


class _Mismatch(Exception):
    """Internal: the text does not convert to the annotation; ``reason`` says why."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise _Mismatch("it is not a valid Python literal") from None


def _split_csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",")]


def _convert(value: Any, annotation: Any) -> Any:
    """Convert text (or an already parsed literal) to ``annotation``."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation is Any or annotation is inspect.Parameter.empty:
        if isinstance(value, str):
            try:
                return _literal(value)
            except _Mismatch:
                return value
        return value
    if annotation is None or annotation is type(None):
        if (isinstance(value, str) and value.strip().lower() == "none") or value is None:
            return None
        raise _Mismatch()

    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)

    if origin in (Union, types.UnionType):
        if type(None) in arguments and (
                value is None or (isinstance(value, str) and value.strip().lower() == "none")):
            return None
        members = [member for member in arguments if member is not type(None)]
        # try specific types before str, so "5" becomes 5 for int | str
        members.sort(key=lambda member: member is str)
        reasons = []
        for member in members:
            try:
                return _convert(value, member)
            except _Mismatch as mismatch:
                reasons.append(mismatch.reason)
        raise _Mismatch(next((reason for reason in reasons if reason), ""))

    if origin is Literal:
        for choice in arguments:
            if value == choice or (isinstance(value, str) and str(choice) == value.strip()):
                return choice
        raise _Mismatch("choose one of " + ", ".join(repr(choice) for choice in arguments))

    if origin in _SEQUENCE_ORIGINS or annotation in (list, tuple, set, frozenset):
        return _convert_sequence(value, origin or annotation, arguments)

    if origin in _MAPPING_ORIGINS or annotation is dict:
        return _convert_mapping(value, arguments)

    if annotation is bool:
        if isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise _Mismatch()
        try:
            return parse_bool(value)
        except ValueSyntaxError:
            raise _Mismatch("use true or false") from None
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return parse_int(value)
        except ValueSyntaxError:
            raise _Mismatch() from None
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise _Mismatch() from None
    if annotation is str:
        return value if isinstance(value, str) else str(value)

    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        text = str(value).strip()
        for member in annotation:
            if text.lower() in (member.name.lower(), str(member.value).lower()):
                return member
        raise _Mismatch("choose one of " + ", ".join(
            repr(str(member.value)) for member in annotation))

    from_text = getattr(annotation, "from_uri_value", None)
    if callable(from_text):
        try:
            return from_text(value if isinstance(value, str) else str(value))
        except ValueSyntaxError as error:
            raise _Mismatch(str(error)) from None
    if inspect.isclass(annotation):
        if isinstance(value, annotation):
            return value
        try:
            return annotation(value)
        except (TypeError, ValueError) as error:
            raise _Mismatch(str(error)) from None
    raise _Mismatch(f"the type {format_type(annotation)} cannot be given in a URI")


def _convert_sequence(value: Any, container: Any, arguments: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "[({":
            items = _literal(stripped)
            if not isinstance(items, (list, tuple)):
                raise _Mismatch("it is not a list")
        elif not stripped:
            items = []
        else:
            items = _split_csv(stripped)
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        items = [value]

    if container is tuple and arguments and arguments[-1] is not Ellipsis:
        if len(items) != len(arguments):
            raise _Mismatch(f"expected {len(arguments)} values, got {len(items)}")
        converted = [_convert(item, kind) for item, kind in zip(items, arguments, strict=True)]
    else:
        kind = arguments[0] if arguments else Any
        converted = [_convert(item, kind) for item in items]

    if container in (tuple,):
        return tuple(converted)
    if container in (set, collections.abc.Set):
        return set(converted)
    if container is frozenset:
        return frozenset(converted)
    return converted


def _convert_mapping(value: Any, arguments: tuple[Any, ...]) -> dict[Any, Any]:
    mapping = _literal(value) if isinstance(value, str) else value
    if not isinstance(mapping, dict):
        raise _Mismatch("it is not a dictionary such as {'key': 1}")
    key_type, value_type = arguments if len(arguments) == 2 else (Any, Any)
    return {_convert(key, key_type): _convert(item, value_type) for key, item in mapping.items()}


def convert_value(text: str, annotation: Any, *, what: str) -> Any:
    """Convert ``text`` to ``annotation``; ``what`` names the value in the error message."""
    try:
        return _convert(text, annotation)
    except _Mismatch as mismatch:
        reason = f" ({mismatch.reason})" if mismatch.reason else ""
        raise PluginArgumentError(
            f"{what} expects {format_type(annotation)}, got {text!r}{reason}") from None
