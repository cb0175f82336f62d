"""The config language's words: shell parsing, environment variables and quoting.

Shared by the kernel's config runner and plugins (directives that split their
arguments, sub-commands that print prompts a config script can read back).

Shell parsing: Shell parsing of config lines: words, quotes, escapes, environment variables, globs.

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

Environment variable references are ``$NAME``, ``${NAME}`` and ``%NAME%``; unset
variables expand to nothing.
"""

from __future__ import annotations

import dataclasses
import glob as globbing
import os
import re
from collections.abc import Mapping
from typing import Any

from .errors import DgenerateError

__all__ = [
    "Operator",
    "ShellSyntaxError",
    "config_word",
    "expand_env",
    "match_reference",
    "scan",
    "shell_parse",
]

_REFERENCE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}"
    r"|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|%(?P<windows>[A-Za-z_][A-Za-z0-9_]*)%")


def match_reference(text: str, index: int) -> re.Match[str] | None:
    """The reference starting exactly at ``text[index]``, if any."""
    return _REFERENCE.match(text, index)


_ESCAPABLE = "\"'$%\\"


def _value(match: re.Match[str], environ: Mapping[str, str]) -> str:
    name = match.group("braced") or match.group("plain") or match.group("windows")
    return environ.get(name, "")


def scan(text: str, *, environ: Mapping[str, str], expand: bool = True,
         resolve_escapes: bool = False, glob_characters: str = "") -> tuple[str, bool]:
    """Expand references (unless escaped with a backslash) and optionally resolve the
    escapes ``\\" \\' \\$ \\% \\\\``; also report whether an unescaped character of
    ``glob_characters`` occurs. Shared by :func:`expand_env` and the shell parser."""
    result: list[str] = []
    has_glob = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            escaped = text[index + 1]
            result.append(escaped if resolve_escapes and escaped in _ESCAPABLE
                          else text[index:index + 2])
            index += 2
            continue
        if expand and char in "$%":
            match = match_reference(text, index)
            if match:
                result.append(_value(match, environ))
                index = match.end()
                continue
        if char in glob_characters:
            has_glob = True
        result.append(char)
        index += 1
    return "".join(result), has_glob


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every reference not escaped with a backslash (escapes stay as written)."""
    return scan(text, environ=os.environ if environ is None else environ)[0]

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


# words that the config language reads back as written: no quotes, escapes, variables
# ($ %), globs, ~, comments or template braces
_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
# characters a config line cannot hold as they are: the line breaks of str.splitlines (the
# lexer's), other control characters (a NUL makes a file binary), and "{", which could
# open a Jinja2 tag; each is written as a template expression that yields it
_TEMPLATE_ESCAPED = re.compile(r"[{\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def config_word(value: Any) -> str:
    """``value`` as one word of a config script that reads back as exactly ``value``.

    Written configs run through Jinja2 and the config shell language when they are
    replayed, so a prompt like ``{{ os.system(...) }}`` must come back as text and never
    run: the word is single-quoted (no variable expansion), backslashes are doubled (they
    are escapes even in single quotes), quotes are written as ``'"'"'``, and what Jinja2
    or the lexer would act on becomes a ``{{ "\\xNN" }}`` expression producing that
    character. The quoting rules are dgenerate's own, so this is written by hand.
    """
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    # a quote closes the string, is written in double quotes, and the string goes on
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "'\"'\"'") + "'"
    return _TEMPLATE_ESCAPED.sub(_template_literal, quoted)


def _template_literal(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return f'{{{{ "{escape}" }}}}'
