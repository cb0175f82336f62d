"""How upscaled prompts are written: text (optionally quoted) or a structured document.

Every structured format holds the same shape, so a reader can switch formats freely::

    {"prompts": [{"positive": "a cat", "negative": "blurry"}, {"positive": "a dog"}]}

``negative`` is present only for prompts that have a negative part (TOML has no null).
The top level is a table because TOML requires one.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.shell import config_word
from dgenerate.plugin_api.values import Prompt

__all__ = ["FORMATS", "QUOTES", "records", "render"]

#: the values of --output-format
FORMATS = ("text", "json", "toml", "yaml")
#: the values of --quote (text output only)
QUOTES = ("none", "shell", "dgenerate")


def records(prompts: Sequence[Prompt]) -> list[dict[str, str]]:
    """The structured form of ``prompts``: one ``{positive[, negative]}`` record each."""
    return [{"positive": prompt.positive} if prompt.negative is None else
            {"positive": prompt.positive, "negative": prompt.negative} for prompt in prompts]


_QUOTERS: dict[str, Callable[[str], str]] = {
    "none": str,
    "shell": shlex.quote,
    "dgenerate": config_word,
}


def _text(prompts: Sequence[Prompt], quote: str) -> str:
    quoter = _QUOTERS[quote]
    return "".join(quoter(str(prompt)) + "\n" for prompt in prompts)


def _json(prompts: Sequence[Prompt]) -> str:
    return json.dumps({"prompts": records(prompts)}, indent=2, ensure_ascii=False) + "\n"


def _yaml(prompts: Sequence[Prompt]) -> str:
    import yaml  # only when asked for

    return yaml.safe_dump({"prompts": records(prompts)}, sort_keys=False, allow_unicode=True,
                          width=2**31 - 1)


# TOML basic strings must escape quotes, backslashes and control characters except tab
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    out = []
    for character in text:
        code = ord(character)
        if character in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[character])
        elif (code < 0x20 and character != "\t") or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:  # a lone surrogate is no Unicode scalar value
            raise DgenerateError(f"prompt-upscale: the prompt text {text!r} holds a lone "
                                 "surrogate character, which TOML cannot represent")
        else:
            out.append(character)
    return '"' + "".join(out) + '"'


def _toml(prompts: Sequence[Prompt]) -> str:
    # no TOML writer ships with Python; the document's shape is fixed and small
    if not prompts:
        return "prompts = []\n"
    tables = []
    for record in records(prompts):
        lines = ["[[prompts]]"]
        lines.extend(f"{key} = {_toml_string(value)}" for key, value in record.items())
        tables.append("\n".join(lines) + "\n")
    return "\n".join(tables)


def render(prompts: Sequence[Prompt], output_format: str, quote: str = "none") -> str:
    """``prompts`` as a document of ``output_format`` (one of :data:`FORMATS`); ``quote``
    (one of :data:`QUOTES`) applies to text, one prompt per line."""
    if output_format == "text":
        return _text(prompts, quote)
    return {"json": _json, "toml": _toml, "yaml": _yaml}[output_format](prompts)
