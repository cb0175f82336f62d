"""Weighting syntax removed from a prompt, for the RankGen encoder, which reads plain
text (light: no heavy imports)."""

from __future__ import annotations

import re

__all__ = ["strip_weights"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_RULES = (
    (re.compile(rf":\s*{_NUMBER}\s*(?=\))"), ""),             # (word:1.2)  sd-embed
    (re.compile(rf"(?<=\)){_NUMBER}"), ""),                   # (words)1.3  compel
    (re.compile(r"(?<=[\w)])[+-]+(?=[\s,.;:!?)]|$)"), ""),    # word++ / word--  compel
    (re.compile(r"(?<!\\)[()\[\]]"), ""),                     # unescaped brackets
    (re.compile(r"\\([()\[\]])"), r"\1"),                     # \( \) are literal
    (re.compile(r"\s+"), " "),
    (re.compile(r"\s+([,.;:!?])"), r"\1"),
)


def strip_weights(text: str) -> str:
    """``"a (red:1.3) [cat] on a (mat)1.2, dog++"`` -> ``"a red cat on a mat, dog"``:
    the words of a prompt without the sd-embed (SD-WebUI) and compel weighting marks.
    compel's ``.blend()`` / ``.and()`` calls are kept as they are written."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()
