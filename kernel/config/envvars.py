"""Environment variable references in config text: ``$NAME``, ``${NAME}``, ``%NAME%``.

Unset variables expand to nothing. A reference preceded by a backslash is left
alone here (the shell tokenizer decides what happens to the backslash).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["expand_env", "match_reference", "scan"]

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
