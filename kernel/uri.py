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
declared types (with :func:`dgenerate.plugin_api.conversion.convert_value`);
every error names the plugin, the argument and the value.

The splitter is hand-written: the syntax is dgenerate's own (shell-like quoting
only at value starts, nested URIs), which no parsing library covers as is.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from dgenerate.plugin_api.args import REQUIRED, ArgSpec, python_name, uri_name
from dgenerate.plugin_api.conversion import convert_value
from dgenerate.plugin_api.errors import PluginArgumentError, UriSyntaxError

__all__ = ["ParsedUri", "UriPart", "bind_arguments", "parse_uri", "split_uri_parts"]

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
                raise UriSyntaxError(f"URI {text!r}: {part.value!r} is not of the form key=value")
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
        result[name] = convert_value(text, spec.type, what=f"argument {spec.uri_name!r} of {owner}")
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
