"""Splitting a config script into statements.

A *statement* is one logical line - a dgenerate invocation or a ``\\directive`` -
or one *template block*: a line starting with ``{`` opens a Jinja2 block that
runs, newlines and all, until its tags balance (a heredoc); its expansion is
lexed again as config.

Rules for command lines:

* blank lines and lines starting with ``#`` are skipped; ``#`` outside quotes
  starts a tail comment; ``\\#`` is a literal ``#``. A ``#`` inside a string that
  closes on the same line is literal; inside a string left open (continued on
  the next line) it starts a comment unless escaped;
* a line ending in ``\\`` continues on the next line, POSIX style: nothing is
  inserted (keep a space before the ``\\`` to separate words); blank and comment
  lines may come in between;
* a line starting with ``-`` continues the previous command, with a space
  (also after a template block, whose expansion is then lexed with it).

The lexer is hand-written: these rules are dgenerate's own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

__all__ = ["Statement", "lex", "strip_comment"]

_TAG = re.compile(r"\{%-?\s*(\w+)(.*?)-?%\}", re.DOTALL)
_BLOCK_TAGS = {"for", "if", "macro", "call", "filter", "raw", "with", "autoescape", "block"}


@dataclasses.dataclass(frozen=True)
class Statement:
    """``kind`` is ``command`` or ``template``; ``line`` is where it starts (1-based)."""

    kind: str
    text: str
    line: int


def _closing_quote(text: str, start: int) -> int:
    quote = text[start]
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index
        index += 1
    return -1


def strip_comment(line: str) -> str:
    """``line`` without its tail comment; ``\\#`` outside complete strings becomes ``#``."""
    result: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line):
            if line[index + 1] == "#":
                result.append("#")
            else:
                result.append(line[index:index + 2])
            index += 2
            continue
        if char in "\"'":
            end = _closing_quote(line, index)
            if end >= 0:  # a complete string: copied as is, '#' inside is literal
                result.append(line[index:end + 1])
                index = end + 1
                continue
            result.append(char)  # an open string: its text still obeys comments
            index += 1
            continue
        if char == "#":
            break
        result.append(char)
        index += 1
    return "".join(result)


def _continues(text: str) -> tuple[str, bool]:
    stripped = text.rstrip()
    trailing = len(stripped) - len(stripped.rstrip("\\"))
    if trailing % 2 == 1:  # an odd number of backslashes: the last one continues the line
        return stripped[:-1], True
    return stripped, False


def _template_balanced(text: str) -> bool:
    for opening, closing in (("{{", "}}"), ("{%", "%}"), ("{#", "#}")):
        if text.count(opening) != text.count(closing):
            return False
    depth = 0
    for match in _TAG.finditer(text):
        name, rest = match.group(1), match.group(2)
        if name.startswith("end"):
            depth -= 1
        elif name in _BLOCK_TAGS or (name == "set" and "=" not in rest):
            depth += 1
    return depth <= 0


def _is_skippable(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def lex(text: str, first_line: int = 1) -> Iterator[Statement]:
    """Yield the statements of a script; line numbers start at ``first_line``."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        number = first_line + index
        if _is_skippable(line):
            index += 1
            continue
        if line.lstrip().startswith("{"):
            block = [line]
            index += 1
            while not _template_balanced("\n".join(block)) and index < len(lines):
                block.append(lines[index])
                index += 1
            # older scripts end template blocks with a "!END" marker; it is not output
            block[-1] = re.sub(r"\s*!END\s*$", "", block[-1])
            # "{{ model }} --option" lines go on with "-" lines and after a trailing "\",
            # like any command; the expansion is lexed again, which joins them
            while index < len(lines):
                if _continues(strip_comment(block[-1]))[1]:
                    while index < len(lines) - 1 and _is_skippable(lines[index]):
                        block.append(lines[index])
                        index += 1
                elif not lines[index].lstrip().startswith("-"):
                    break
                block.append(lines[index])
                index += 1
            yield Statement("template", "\n".join(block), number)
            continue
        content, continues = _continues(strip_comment(line).strip())
        parts = [content]
        index += 1
        while index < len(lines):
            if continues:
                while index < len(lines) and _is_skippable(lines[index]):
                    index += 1
                if index >= len(lines):
                    break
                content, continues = _continues(strip_comment(lines[index]).strip())
                parts.append(content)
                index += 1
                continue
            if lines[index].lstrip().startswith("-"):
                content, continues = _continues(strip_comment(lines[index]).strip())
                parts.append(" " + content)
                index += 1
                continue
            break
        yield Statement("command", "".join(parts).strip(), number)
