"""Shell parsing of config lines: words, quotes, escapes, environment variables, globs.

dgenerate's shell language is not POSIX. A line splits into tokens at blanks
outside quotes, and each token is one of:

* a *standalone string* (the whole token is one quoted string): the quotes go,
  the escapes ``\\" \\' \\$ \\% \\\\`` are resolved, and double-quoted strings
  expand environment variables;
* a *text token* (no quotes): escapes resolved, variables expanded, then glob
  patterns with ``*`` or ``?`` expanded (a pattern matching nothing is an error;
  URLs are never globs) and a leading ``~`` replaced by the home folder;
* a *glob with back-expansion* (a pattern followed by quoted strings,
  ``d*'.tar'``): the strings, processed as a standalone string, are appended to
  every match;
* an *intermixed token* (text and complete strings, ``key="a b"``): the text
  parts are processed as text, the strings are kept exactly as written, quotes
  and backslashes included, except that double-quoted ones expand variables.
  This keeps URI values intact for the plugins that parse them.

``;`` is never an operator. With ``operators=True`` (used by ``\\exec``), ``|``
and redirections (``<``, ``>``, ``>>``, ``&>``, ``2>``, ``2>&1`` ...) outside
quotes become tokens of their own, marked as :class:`Operator`.

Hand-written: the rules above are dgenerate's own.
"""

from __future__ import annotations

import dataclasses
import glob as globbing
import os
import re
from collections.abc import Mapping

from dgenerate.plugin_api.errors import DgenerateError

from .envvars import scan

__all__ = ["Operator", "ShellSyntaxError", "shell_parse"]

# "[" is not a glob character here: Python lists in URI values ([1, 2]) are common
_GLOB_CHARACTERS = "*?"
_OPERATOR = re.compile(r"\||<|&>>?|\d?>>?(?:&\d)?")


class ShellSyntaxError(DgenerateError):
    """A line that cannot be split into tokens (an unterminated string ...)."""


class Operator(str):
    """A pipe or redirection token produced with ``operators=True``."""

    __slots__ = ()


@dataclasses.dataclass
class _Segment:
    quote: str | None  # None for text, else the quote character
    raw: str  # text as written, without the quotes of a string


def _segments(text: str, operators: bool) -> list[list[_Segment] | Operator]:
    tokens: list[list[_Segment] | Operator] = []
    current: list[_Segment] = []
    buffer: list[str] = []

    def flush_text() -> None:
        if buffer:
            current.append(_Segment(None, "".join(buffer)))
            buffer.clear()

    def end_token() -> None:
        flush_text()
        if current:
            tokens.append(list(current))
            current.clear()

    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            buffer.append(text[index:index + 2])
            index += 2
            continue
        if char in "\"'":
            flush_text()
            end = index + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise ShellSyntaxError(
                    f"the string starting at character {index + 1} is never closed: "
                    f"{text[index:]!r}")
            current.append(_Segment(char, text[index + 1:end]))
            index = end + 1
            continue
        if char.isspace():
            end_token()
            index += 1
            continue
        if operators:
            match = _OPERATOR.match(text, index)
            if match and (char in "|<>&" or (not buffer and not current)):
                end_token()
                tokens.append(Operator(match.group(0)))
                index = match.end()
                continue
        buffer.append(char)
        index += 1
    end_token()
    return tokens


def _resolve(raw: str, *, expand: bool, environ: Mapping[str, str],
             keep_escapes: bool = False) -> tuple[str, bool]:
    """Resolve escapes and expand variables in one piece of text; also say whether it
    holds an unescaped glob character."""
    return scan(raw, environ=environ, expand=expand, resolve_escapes=not keep_escapes,
                glob_characters=_GLOB_CHARACTERS)


def _standalone(segments: list[_Segment], environ: Mapping[str, str], *,
                expand_single: bool = False) -> str:
    return "".join(
        _resolve(segment.raw, expand=expand_single or segment.quote != "'", environ=environ)[0]
        for segment in segments)


def _glob(pattern: str) -> list[str]:
    matches = sorted(globbing.glob(os.path.expanduser(pattern), recursive=True))
    if not matches:
        raise ShellSyntaxError(f"the glob {pattern!r} matches no files")
    return [match.replace(os.sep, "/") for match in matches]


def _token(segments: list[_Segment], environ: Mapping[str, str], expand_globs: bool) -> list[str]:
    quoted = [segment for segment in segments if segment.quote]
    if len(quoted) == len(segments):
        return [_standalone(segments, environ)]
    first = segments[0]
    if not quoted:
        text, has_glob = _resolve(first.raw, expand=True, environ=environ)
        if has_glob and expand_globs and "://" not in text:
            return _glob(text)
        return [os.path.expanduser(text) if text.startswith("~") else text]
    if first.quote is None and all(segment.quote for segment in segments[1:]):
        text, has_glob = _resolve(first.raw, expand=True, environ=environ)
        if has_glob and expand_globs:
            # the manual's rule: the appended string always expands variables, even in
            # single quotes (its example d*'.$VARIABLE' prints devscripts.test ...)
            suffix = _standalone(segments[1:], environ, expand_single=True)
            return [match + suffix for match in _glob(text)]
    parts = []
    for segment in segments:
        if segment.quote is None:
            parts.append(_resolve(segment.raw, expand=True, environ=environ)[0])
        else:
            inner = _resolve(segment.raw, expand=segment.quote == '"', environ=environ,
                             keep_escapes=True)[0]
            parts.append(f"{segment.quote}{inner}{segment.quote}")
    return ["".join(parts)]


def shell_parse(text: str, *, environ: Mapping[str, str] | None = None,
                expand_globs: bool = True, operators: bool = False) -> list[str]:
    """Split ``text`` into arguments following dgenerate's shell rules."""
    environ = os.environ if environ is None else environ
    result: list[str] = []
    for token in _segments(text, operators):
        if isinstance(token, Operator):
            result.append(token)
        else:
            result.extend(_token(token, environ, expand_globs))
    return result
