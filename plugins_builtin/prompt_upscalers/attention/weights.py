"""Placing weights: which spans of a parsed prompt get one, and how it is written."""

from __future__ import annotations

import random
from typing import Any

__all__ = ["SYNTAXES", "chunks", "format_weight", "weigh"]

SYNTAXES = ("sd-embed", "compel")

_SPECIAL = set("()[]{}<>:\\+")
_NOUNS = {"NOUN", "PROPN"}
_MODIFIERS = {"ADJ", "NUM", "NOUN", "PROPN"}


def _fallback_chunks(doc: Any) -> list[tuple[int, int]]:
    """Runs of adjectives, numbers and nouns ending in a noun: for languages whose
    spaCy support has no noun-chunk rules (ru, zh)."""
    spans, start = [], None
    for token in [*doc, None]:
        if token is not None and token.pos_ in _MODIFIERS:
            start = token.i if start is None else start
            continue
        if start is not None:
            end = token.i if token is not None else len(doc)
            while end > start and doc[end - 1].pos_ not in _NOUNS:
                end -= 1
            if end > start:
                spans.append((doc[start].idx, doc[end - 1].idx + len(doc[end - 1])))
            start = None
    return spans


def chunks(doc: Any) -> list[tuple[int, int]]:
    """Character ranges of the noun chunks of ``doc``, in order, without overlaps, and
    only those outside any bracket already written and free of syntax characters (an
    existing weight is never changed or broken)."""
    try:
        spans = [(span.start_char, span.end_char) for span in doc.noun_chunks]
    except (NotImplementedError, ValueError):
        spans = _fallback_chunks(doc)
    text = doc.text
    depth, depths = 0, []
    for character in text:
        if character in "([":
            depth += 1
        depths.append(depth)
        if character in ")]" and depth:
            depth -= 1
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if kept and start < kept[-1][1]:
            continue
        if _SPECIAL.intersection(text[start:end]) or any(depths[start:end]):
            continue
        if end < len(text) and text[end] in "+-":  # compel's word+ / word-
            continue
        kept.append((start, end))
    return kept


def format_weight(chunk: str, weight: float, syntax: str) -> str:
    """``(chunk:1.25)`` for sd-embed, ``(chunk)1.25`` for compel."""
    number = f"{weight:.2f}"
    return f"({chunk}:{number})" if syntax == "sd-embed" else f"({chunk}){number}"


def weigh(doc: Any, rng: random.Random, low: float, high: float, syntax: str) -> str:
    """The text of ``doc`` with each noun chunk weighted ``1 + uniform(low, high)``."""
    text = doc.text
    pieces, position = [], 0
    for start, end in chunks(doc):
        weight = 1.0 + rng.uniform(low, high)
        pieces.append(text[position:start])
        pieces.append(format_weight(text[start:end], weight, syntax))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
