"""The plugin URI mini-language: ``name;key=value;key2="quoted; value"``.

A URI names a plugin (or a model path) and passes it arguments. ``;`` separates
the parts; each part after the first is ``key=value``. Keys may be written with
``-`` or ``_`` (``output-file`` and ``output_file`` are the same). A value that
starts with a quote (``"`` or ``'``) runs to the matching quote and may then
contain ``;`` - this is how URIs nest: ``quantizer="bnb;bits=8"``. Inside
quotes, a backslash escapes the quote character or another backslash. Quotes
anywhere else are ordinary characters, so ``prompt=a cat's toy`` needs none.

Binding checks the parsed arguments against a plugin's declared
:class:`~dgenerate.plugin_api.ArgSpec` records and converts the text to the
declared types; every error names the plugin, the argument and the value.

The splitter is hand-written: the syntax is dgenerate's own (shell-like quoting
only at value starts, nested URIs), which no parsing library covers as is.
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import difflib
import enum
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

from dgenerate.plugin_api.args import REQUIRED, ArgSpec, format_type, python_name, uri_name
from dgenerate.plugin_api.errors import PluginArgumentError, UriSyntaxError, ValueSyntaxError
from dgenerate.plugin_api.values import parse_bool, parse_int

__all__ = [
    "ParsedUri",
    "UriPart",
    "bind_arguments",
    "convert_value",
    "parse_uri",
    "split_uri_parts",
]

_QUOTES = "\"'"


@dataclasses.dataclass(frozen=True)
class ParsedUri:
    """A URI split into its name, ``key=value`` arguments and bare parts.

    ``arguments`` keys are Python names (``output_file``); values are the raw
    text with outer quotes removed. ``positional`` holds parts without ``=``
    after the name, which only some URI kinds accept.
    """

    text: str
    name: str
    arguments: dict[str, str]
    positional: tuple[str, ...] = ()


def _unterminated(text: str, position: int) -> UriSyntaxError:
    return UriSyntaxError(
        f"URI {text!r} has a quote at character {position + 1} that is never closed")


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at ``text[start]``; return (content, index after it)."""
    quote = text[start]
    content = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in (quote, "\\"):
            content.append(text[index + 1])
            index += 2
            continue
        if char == quote:
            return "".join(content), index + 1
        content.append(char)
        index += 1
    raise _unterminated(text, start)


@dataclasses.dataclass(frozen=True)
class UriPart:
    """One ``;``-separated part: ``key`` is ``None`` for a part without ``=``."""

    key: str | None
    value: str
    quoted: bool


def _skip_blanks(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t":
        index += 1
    return index


def split_uri_parts(text: str) -> list[UriPart]:
    """Split ``text`` at ``;`` outside quoted values.

    The first part is the name and is never split at ``=``. A value that starts
    with a quote runs to the matching quote, which is removed. Raises
    :class:`UriSyntaxError` for unclosed quotes and for text after a closing quote.
    """
    parts: list[UriPart] = []
    index = 0
    while True:
        key = None
        value_start = index
        if parts:  # not the name: look for "key=" before the next ";"
            equals = text.find("=", index)
            separator = text.find(";", index)
            if equals >= 0 and (separator < 0 or equals < separator):
                key = text[index:equals]
                value_start = equals + 1
        cursor = _skip_blanks(text, value_start)
        if cursor < len(text) and text[cursor] in _QUOTES:
            content, after = _read_quoted(text, cursor)
            index = _skip_blanks(text, after)
            if index < len(text) and text[index] != ";":
                raise UriSyntaxError(
                    f"URI {text!r} has unexpected text {text[index:].split(';')[0]!r} "
                    "after a quoted value; put the whole value inside the quotes")
            parts.append(UriPart(key, content, True))
        else:
            index = text.find(";", value_start)
            if index < 0:
                index = len(text)
            parts.append(UriPart(key, text[value_start:index].strip(), False))
        if index >= len(text):
            return parts
        index += 1  # past the ";"


def parse_uri(text: str, *, allow_positional: bool = False) -> ParsedUri:
    """Split a URI into name and arguments (no type conversion).

    Raises :class:`UriSyntaxError` for unclosed quotes, a missing name, a part
    without ``=`` (unless ``allow_positional``), an empty key or a key given twice.
    """
    if not isinstance(text, str) or not text.strip():
        raise UriSyntaxError(f"URI {text!r} is empty")
    name_part, *rest = split_uri_parts(text)
    if not name_part.value:
        raise UriSyntaxError(f"URI {text!r} has no name before the first ';'")
    arguments: dict[str, str] = {}
    positional: list[str] = []
    for part in rest:
        if part.key is None:
            if not part.quoted and not part.value:
                continue  # tolerate "a;;b" and a trailing ";"
            if not allow_positional:
                raise UriSyntaxError(
                    f"URI {text!r}: {part.value!r} is not of the form key=value")
            positional.append(part.value)
            continue
        key = part.key.strip()
        if not key:
            raise UriSyntaxError(f"URI {text!r}: '={part.value}' has no key before '='")
        if not all(char.isalnum() or char in "-_" for char in key):
            raise UriSyntaxError(f"URI {text!r}: {key!r} is not a valid argument name")
        normalized = python_name(key)
        if normalized in arguments:
            raise UriSyntaxError(f"URI {text!r} gives the argument {uri_name(key)!r} twice")
        arguments[normalized] = part.value
    return ParsedUri(text=text, name=name_part.value, arguments=arguments,
                     positional=tuple(positional))


# ---------------------------------------------------------------- conversion

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


# ------------------------------------------------------------------- binding


def _suggest(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else "."


def bind_arguments(
    parsed: ParsedUri,
    specs: Sequence[ArgSpec],
    *,
    owner: str,
    supplied: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check and convert ``parsed.arguments`` against ``specs``.

    ``owner`` names the plugin in messages (``image processor 'flip'``).
    ``supplied`` holds values the kernel provides (``device``...): they fill
    matching arguments the URI leaves out, hidden or not, and are ignored when
    the plugin does not declare them. Returns keyword arguments by Python name.
    """
    if parsed.positional:
        raise PluginArgumentError(
            f"{owner} in URI {parsed.text!r}: {parsed.positional[0]!r} is not of the form "
            "key=value")
    visible = {spec.name: spec for spec in specs if not spec.hidden}
    every = {spec.name: spec for spec in specs}
    result: dict[str, Any] = {}
    for name, text in parsed.arguments.items():
        spec = visible.get(name)
        if spec is None:
            choices = [uri_name(candidate) for candidate in visible]
            listing = (f" It accepts: {', '.join(choices)}." if choices
                       else " It accepts no arguments.")
            raise PluginArgumentError(
                f"{owner} has no argument {uri_name(name)!r}"
                f"{_suggest(uri_name(name), choices)}{listing}")
        result[name] = convert_value(
            text, spec.type, what=f"argument {spec.uri_name!r} of {owner}")
    for name, value in (supplied or {}).items():
        if name in every and name not in result:
            result[name] = value
    missing = [spec.uri_name for spec in specs
               if spec.default is REQUIRED and spec.name not in result]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise PluginArgumentError(
            f"{owner} needs the argument{plural} {', '.join(map(repr, missing))} "
            f"in URI {parsed.text!r}")
    return result
