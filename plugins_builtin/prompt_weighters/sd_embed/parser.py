"""Stable Diffusion Web UI attention syntax: text in, (text, weight) segments out.

Pure Python, so it is cheap to test and to import.

* ``(text)`` multiplies the weight of ``text`` by 1.1, ``[text]`` divides it by 1.1;
  groups nest, so ``((text))`` is 1.21.
* ``(text:1.5)`` sets the factor of the group to 1.5 instead of 1.1 (the number is the
  last ``:`` of the group, written as a decimal; anything else after it leaves the
  colon as text).
* ``\\(``, ``\\)``, ``\\[``, ``\\]`` and ``\\\\`` are the characters themselves.
* An unbalanced bracket is kept as text, so a prompt never fails to parse: an opening
  bracket that nothing closes, a closing one that nothing opened, and a closing one
  of the other kind (``(a]``) are all literal characters. This is forgiving on
  purpose: prompts are typed by hand, often copied from elsewhere, and a stray
  parenthesis should not stop a long batch.

``BREAK`` has no special meaning (the manual does not describe it): it is text.
"""

from __future__ import annotations

import re

__all__ = ["ROUND", "SQUARE", "parse"]

ROUND = 1.1
"""The factor of ``(text)``."""
SQUARE = 1 / 1.1
"""The factor of ``[text]``."""

_PAIRS = {"(": ")", "[": "]"}
_WEIGHT = re.compile(r":\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$")


def _matches(text: str) -> dict[int, int]:
    """Positions of the opening brackets that are closed, mapped to their closing ones."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char in _PAIRS:
            stack.append(index)
        elif char in (")", "]") and stack and _PAIRS[text[stack[-1]]] == char:
            pairs[stack.pop()] = index
        # a stray or mismatched closing bracket is literal text
        index += 1
    return pairs


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def parse(text: str) -> list[tuple[str, float]]:
    """Split a prompt into ``(text, weight)`` segments, neighbours of equal weight merged.

    >>> parse("a (red:1.5) ball")
    [('a ', 1.0), ('red', 1.5), (' ball', 1.0)]
    """
    pairs = _matches(text)
    segments: list[tuple[str, float]] = []

    def emit(chunk: str, weight: float) -> None:
        if not chunk:
            return
        if segments and segments[-1][1] == weight:
            segments[-1] = (segments[-1][0] + chunk, weight)
        else:
            segments.append((chunk, weight))

    def walk(start: int, end: int, weight: float) -> None:
        plain = start  # the start of the text not emitted yet
        index = start
        while index < end:
            char = text[index]
            if char == "\\":
                index += 2
                continue
            if index in pairs:
                emit(_unescape(text[plain:index]), weight)
                close = pairs[index]
                inner_end, factor = close, ROUND if char == "(" else SQUARE
                if char == "(":
                    found = _WEIGHT.search(text, index + 1, close)
                    if found and _outside_groups(pairs, index + 1, found.start()):
                        inner_end, factor = found.start(), float(found.group(1))
                walk(index + 1, inner_end, weight * factor)
                index = plain = close + 1
                continue
            index += 1
        emit(_unescape(text[plain:min(index, end)]), weight)

    walk(0, len(text), 1.0)
    return segments


def _outside_groups(pairs: dict[int, int], start: int, colon: int) -> bool:
    """Whether ``colon`` is not inside a nested group starting at or after ``start``
    (``((a:1.2))``'s number belongs to the inner group only)."""
    return not any(start <= opening < colon <= closing for opening, closing in pairs.items())
