"""Translate SD-WebUI (AUTOMATIC1111) prompt weighting into compel's syntax.

SD-WebUI writes ``(word)`` for x1.1, ``[word]`` for /1.1, ``(word:1.3)`` for an explicit
weight, and nests them (``((word))`` = x1.21). compel writes ``(word)1.1``. Escaped
brackets (``\\(``) stay literal; an unmatched bracket is kept as literal text.
"""

from __future__ import annotations

import re

__all__ = ["translate_sdwui"]

_UP = 1.1
_EXPLICIT = re.compile(r"^(.*):\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$", re.DOTALL)


def translate_sdwui(prompt: str) -> str:
    """Return ``prompt`` with SD-WebUI weights rewritten as compel weights."""
    text, _ = _group(prompt, 0, None)
    return text


def _group(prompt: str, index: int, closer: str | None) -> tuple[str, int]:
    """Translate from ``index`` up to ``closer`` (or the end); return the text and the
    index after the closer (``-1`` when the closer was never found)."""
    parts: list[str] = []
    while index < len(prompt):
        char = prompt[index]
        if char == "\\" and index + 1 < len(prompt) and prompt[index + 1] in "()[]":
            parts.append(prompt[index:index + 2])
            index += 2
        elif char in "([":
            inner, after = _group(prompt, index + 1, ")" if char == "(" else "]")
            if after < 0:  # unmatched opener: literal
                parts.append("\\" + char + inner)
                index = len(prompt)
            else:
                parts.append(_weighted(inner, char))
                index = after
        elif char == closer:
            return "".join(parts), index + 1
        elif char in ")]":  # a closer that opens nothing: literal
            parts.append("\\" + char)
            index += 1
        else:
            parts.append(char)
            index += 1
    return "".join(parts), -1 if closer else index


def _weighted(inner: str, opener: str) -> str:
    if opener == "[":
        weight = 1 / _UP
    else:
        explicit = _EXPLICIT.match(inner)
        if explicit:
            inner, weight = explicit.group(1), float(explicit.group(2))
        else:
            weight = _UP
    return f"({inner}){_number(weight)}"


def _number(weight: float) -> str:
    return f"{weight:.4f}".rstrip("0").rstrip(".") or "0"
