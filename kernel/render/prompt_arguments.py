"""Embedded prompt arguments (``<inference-steps: 50> a prompt``) that dgenerate 5.0.0
understands and this version does not implement yet.

A prompt naming one of them is refused with an error, so that the argument is
neither ignored nor rendered as part of the prompt text. Other ``<...>`` text
(``<lora:name:1>`` of other tools) stays prompt text.
"""

from __future__ import annotations

import re
from pathlib import Path

from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["EMBEDDED_ARGUMENTS", "check_prompt_arguments"]

#: The names dgenerate 5.0.0 accepts as ``<name: value>`` inside a prompt: data, kept in
#: prompt_arguments.txt beside this module.
EMBEDDED_ARGUMENTS = frozenset(
    name for line in (Path(__file__).with_suffix(".txt").read_text(encoding="utf-8")
                      .splitlines()) if not line.startswith("#") for name in line.split())

_ARGUMENT = re.compile(r"<\s*([A-Za-z][A-Za-z0-9_-]*)\s*:([^>]*)>")


def check_prompt_arguments(prompt: str) -> None:
    """Refuse a prompt that embeds an argument this version does not implement yet."""
    for match in _ARGUMENT.finditer(prompt):
        name = match.group(1).lower().replace("_", "-")
        if name in EMBEDDED_ARGUMENTS:
            raise DgenerateError(
                f"--prompts {prompt!r}: the embedded prompt argument {match.group(0)!r} is not "
                "supported yet; give the value with its command-line option instead (it "
                "applies to every prompt)")
