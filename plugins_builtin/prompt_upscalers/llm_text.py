"""Text handling shared by the LLM prompt upscalers (``magicprompt``, ``gpt4all``).

An LLM upscaler only has to turn a batch of input texts into raw generations; this
module does the rest: argument checks, the text the model sees (system instruction,
preamble), what is kept of its answer (remove-prompt, prepend-prompt, smart-truncate,
the default or a user's cleanup), and regeneration of answers that ``block-regex``
rejects. Light to import: spaCy loads only for smart-truncate.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from dgenerate.plugin_api import Arg, DgenerateError, PluginArgumentError

__all__ = [
    "GenerationRequest",
    "TextRules",
    "check_common",
    "continued",
    "default_cleanup",
    "generate_all",
    "load_cleanup_config",
    "plain_input",
    "request_seed",
    "smart_truncate",
]

Cleanup = Callable[[str], str]

# the URI arguments every LLM upscaler shares (the defaults stay with each upscaler)
Part = Annotated[str, Arg(help="the part of the prompt to rewrite: both, positive or "
                               "negative")]
Variations = Annotated[int, Arg(help="how many rewritten prompts to make of each prompt")]
MaxLength = Annotated[int, Arg(help="the most new tokens to generate per prompt")]
Temperature = Annotated[float, Arg(help="sampling temperature: higher is more inventive, "
                                        "lower more predictable")]
TopP = Annotated[float, Arg(help="sample among the likeliest tokens whose probabilities add "
                                 "up to p")]
Preamble = Annotated[str | None, Arg(help="text put before the prompt and not kept in the "
                                          "result")]
RemovePrompt = Annotated[bool, Arg(help="drop the original prompt from the front of the "
                                        "result")]
PrependPrompt = Annotated[bool, Arg(help="always start the result with the original prompt "
                                         "and a blank")]
BlockRegex = Annotated[str | None, Arg(help="regenerate results this regular expression finds "
                                            "(case-insensitive)")]
MaxAttempts = Annotated[int, Arg(help="how many generations to try per result when "
                                      "block-regex matches")]
SmartTruncate = Annotated[bool, Arg(help="cut the result after its last complete sentence "
                                         "(spaCy)")]
CleanupConfig = Annotated[str | None, Arg(help="a .json, .toml or .yaml file of cleanup "
                                               "operations replacing the default cleanup")]


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """One text to generate: the prompt it comes from, which variation, which attempt
    (a retry after block-regex), and a seed derived from those (reproducible)."""

    prompt: str
    variation: int
    attempt: int
    seed: int


@dataclasses.dataclass(frozen=True)
class TextRules:
    """What is kept of a generation; built by :func:`check_common`."""

    owner: str
    remove_prompt: bool = False
    prepend_prompt: bool = False
    block_regex: re.Pattern[str] | None = None
    max_attempts: int = 10
    smart_truncate: bool = False
    cleanup: tuple[Cleanup, ...] | None = None

    def finish(self, prompt: str, generated: str) -> str:
        """The final text of one generation (may be empty: nothing usable)."""
        text = generated
        if self.remove_prompt or self.prepend_prompt:
            text = _without_prompt(text, prompt)
        if self.smart_truncate:
            text = smart_truncate(text)
        if self.cleanup is None:
            text = default_cleanup(text)
        else:
            for operation in self.cleanup:
                text = operation(text)
                if not isinstance(text, str):
                    raise DgenerateError(f"{self.owner}: a cleanup-config function returned "
                                         f"{type(text).__name__}, not a str")
        text = text.strip()
        if self.prepend_prompt:
            text = f"{prompt.strip()} {text}".strip()
        return text

    def blocked(self, text: str) -> bool:
        return self.block_regex is not None and self.block_regex.search(text) is not None


def check_common(owner: str, *, variations: int, max_length: int, temperature: float,
                 top_k: int, top_p: float, max_attempts: int, block_regex: str | None,
                 remove_prompt: bool, prepend_prompt: bool, smart_truncate: bool,
                 cleanup_config: str | None) -> TextRules:
    """Check the arguments both LLM upscalers share; the rules for their output."""
    def bad(name: str, value: Any, wanted: str) -> PluginArgumentError:
        return PluginArgumentError(f"{owner}: {name}={value!r} {wanted}")

    if variations < 1:
        raise bad("variations", variations, "must be at least 1")
    if max_length < 1:
        raise bad("max-length", max_length, "must be at least 1 (new tokens per generation)")
    if temperature <= 0:
        raise bad("temperature", temperature, "must be greater than 0")
    if top_k < 0:
        raise bad("top-k", top_k, "must be 0 (no limit) or more")
    if not 0 < top_p <= 1:
        raise bad("top-p", top_p, "must be greater than 0 and at most 1")
    if max_attempts < 1:
        raise bad("max-attempts", max_attempts, "must be at least 1")
    pattern = None
    if block_regex is not None:
        try:
            pattern = re.compile(block_regex, re.IGNORECASE)
        except re.error as error:
            raise bad("block-regex", block_regex, f"is not a valid regular expression: {error}"
                      ) from None
    cleanup = None if cleanup_config is None else tuple(load_cleanup_config(cleanup_config,
                                                                             owner=owner))
    if smart_truncate and importlib.util.find_spec("spacy") is None:
        raise PluginArgumentError(f"{owner}: smart-truncate needs the spacy package, which is "
                                  "not installed")
    return TextRules(owner=owner, remove_prompt=remove_prompt, prepend_prompt=prepend_prompt,
                     block_regex=pattern, max_attempts=max_attempts,
                     smart_truncate=smart_truncate, cleanup=cleanup)


def plain_input(prompt: str, system: str | None, preamble: str | None) -> str:
    """The text a model without a chat template sees: system, preamble, prompt."""
    return " ".join(part.strip() for part in (system, preamble, prompt) if part and part.strip())


def continued(prompt: str, continuation: str) -> str:
    """The prompt followed by the text a model wrote after it, with a blank between them
    unless the continuation starts with one or with punctuation."""
    prompt = prompt.rstrip()
    if not continuation or continuation[0].isspace() or continuation[0] in ",.;:!?)":
        return prompt + continuation
    return f"{prompt} {continuation}"


def request_seed(seed: int, prompt: str, variation: int, attempt: int) -> int:
    """A seed for one generation that depends only on the upscaler's seed and on what is
    generated, not on the batch it shares: results do not change with max-batch."""
    mixed = zlib.crc32(f"{variation}:{attempt}:{prompt}".encode())
    return (seed * 0x9E3779B1 + mixed) % (2**63)


def generate_all(texts: Sequence[str], *, variations: int, seed: int, rules: TextRules,
                 generate: Callable[[list[GenerationRequest]], list[str]],
                 batch_size: int | None, warn: Callable[[str], None] | None = None,
                 ) -> list[list[str]]:
    """``variations`` finished texts per text. ``generate`` turns a batch of requests into
    raw generations; requests are handed over ``batch_size`` at a time (None: all).
    A text block-regex rejects is generated again with a new seed, up to max-attempts;
    one that stays blocked, or comes out empty, is replaced by its original prompt."""
    results: dict[tuple[int, int], str] = {}
    pending = [(index, variation) for index in range(len(texts))
               for variation in range(variations)]
    for attempt in range(rules.max_attempts):
        if not pending:
            break
        requests = [GenerationRequest(texts[index], variation, attempt,
                                      request_seed(seed, texts[index], variation, attempt))
                    for index, variation in pending]
        size = batch_size or len(requests)
        generated: list[str] = []
        for start in range(0, len(requests), size):
            chunk = requests[start:start + size]
            answers = generate(chunk)
            if len(answers) != len(chunk):
                raise DgenerateError(f"{rules.owner}: the model returned {len(answers)} texts "
                                     f"for {len(chunk)} inputs")
            generated.extend(answers)
        still = []
        for slot, request, answer in zip(pending, requests, generated, strict=True):
            text = rules.finish(request.prompt, answer)
            if rules.blocked(text):
                still.append(slot)
            else:
                results[slot] = text
        pending = still
    for index, variation in pending:
        if warn is not None:
            warn(f"{rules.owner}: every generation for {texts[index]!r} matched block-regex "
                 f"in {rules.max_attempts} attempts; the prompt is kept as it was")
        results[index, variation] = texts[index]
    return [[results[index, variation] or texts[index] for variation in range(variations)]
            for index in range(len(texts))]


# --------------------------------------------------------------------- text rules


def _without_prompt(text: str, prompt: str) -> str:
    """``text`` without a leading copy of ``prompt`` (case and blanks ignored)."""
    words = prompt.split()
    if not words:
        return text
    pattern = r"^\s*" + r"\s+".join(re.escape(word) for word in words)
    return re.sub(pattern, "", text, count=1, flags=re.IGNORECASE).lstrip(" \t\n,.;:")


_BLANKS = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")
_REPEATED_COMMAS = re.compile(r"(?:\s*,){2,}")
_EDGE = " \t\n,;:-|\"'`"


def default_cleanup(text: str) -> str:
    """What every generation goes through unless a cleanup-config replaces it: one line,
    single blanks, no blank before punctuation, no run of commas, no stray quotes or
    separators at either end."""
    text = _BLANKS.sub(" ", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = _REPEATED_COMMAS.sub(",", text)
    return text.strip(_EDGE)


_SENTENCIZER: Any = None


def smart_truncate(text: str) -> str:
    """``text`` cut after its last complete sentence (spaCy's rule-based sentencizer, no
    model download); a text without a complete sentence is kept whole."""
    global _SENTENCIZER
    if _SENTENCIZER is None:
        import spacy

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        _SENTENCIZER = nlp
    stripped = text.rstrip()
    if not stripped or stripped[-1] in ".!?\"')":
        return stripped
    sentences = list(_SENTENCIZER(stripped).sents)
    complete = [sentence for sentence in sentences
                if sentence.text.rstrip().endswith((".", "!", "?"))]
    if not complete:
        return stripped
    return stripped[:complete[-1].end_char].rstrip()


# ------------------------------------------------------------------ cleanup config

_PATTERN_KEYS = {"pattern", "substitution", "ignore_case", "ignorecase", "multiline", "dotall",
                 "count"}


def _read(path: str) -> Any:
    suffix = os.path.splitext(path)[1].lower()
    with open(path, "rb") as file:
        data = file.read()
    if suffix == ".json":
        return json.loads(data.decode("utf-8"))
    if suffix == ".toml":
        import tomllib

        return tomllib.loads(data.decode("utf-8"))
    import yaml

    return yaml.safe_load(data.decode("utf-8"))


def load_cleanup_config(path: str, *, owner: str) -> list[Cleanup]:
    """The operations of a cleanup config file (.json, .toml ``[[operations]]`` or .yaml),
    in order, each a ``str -> str`` function. Any problem is one error naming the file."""
    shown = os.path.expanduser(path)

    def fail(reason: str) -> DgenerateError:
        return PluginArgumentError(f"{owner}: cleanup-config {path!r}: {reason}")

    suffix = os.path.splitext(shown)[1].lower()
    if suffix not in (".json", ".toml", ".yaml", ".yml"):
        raise fail("is not a .json, .toml or .yaml file")
    if not os.path.isfile(shown):
        raise fail("no such file")
    try:
        data = _read(shown)
    except Exception as error:  # each parser raises its own kind
        raise fail(f"cannot be read: {' '.join(str(error).split())}") from None
    if suffix == ".toml":
        if not isinstance(data, dict) or set(data) != {"operations"}:
            raise fail("a TOML cleanup config holds [[operations]] tables and nothing else")
        data = data["operations"]
    if not isinstance(data, list):
        raise fail("must be a list of operations")
    folder = os.path.dirname(os.path.abspath(shown))
    return [_operation(entry, number, folder, fail) for number, entry in enumerate(data, 1)]


def _operation(entry: Any, number: int, folder: str,
               fail: Callable[[str], DgenerateError]) -> Cleanup:
    where = f"operation {number}"
    if not isinstance(entry, dict):
        raise fail(f"{where} is not a mapping (a function or a pattern operation)")
    if "function" in entry:
        if set(entry) != {"function"}:
            raise fail(f"{where}: a function operation takes only the key 'function'")
        return _function(entry["function"], where, folder, fail)
    if "pattern" not in entry:
        raise fail(f"{where} has neither 'function' nor 'pattern'")
    unknown = set(entry) - _PATTERN_KEYS
    if unknown:
        raise fail(f"{where}: unknown keys {', '.join(sorted(unknown))} (a pattern operation "
                   f"takes {', '.join(sorted(_PATTERN_KEYS))})")
    pattern, substitution = entry["pattern"], entry.get("substitution", "")
    if not isinstance(pattern, str) or not isinstance(substitution, str):
        raise fail(f"{where}: 'pattern' and 'substitution' must be strings")
    flags = 0
    for keys, flag in ((("ignore_case", "ignorecase"), re.IGNORECASE),
                       (("multiline",), re.MULTILINE), (("dotall",), re.DOTALL)):
        for key in keys:
            value = entry.get(key, False)
            if not isinstance(value, bool):
                raise fail(f"{where}: {key!r} must be true or false, not {value!r}")
            if value:
                flags |= flag
    count = entry.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise fail(f"{where}: 'count' must be a whole number, 0 or more, not {count!r}")
    try:
        compiled = re.compile(pattern, flags)
    except re.error as error:
        raise fail(f"{where}: pattern {pattern!r} is not a valid regular expression: {error}"
                   ) from None
    try:
        compiled.sub(substitution, "")
    except (re.error, IndexError) as error:
        raise fail(f"{where}: substitution {substitution!r} does not fit the pattern: {error}"
                   ) from None
    return lambda text: compiled.sub(substitution, text, count=count)


def _function(value: Any, where: str, folder: str,
              fail: Callable[[str], DgenerateError]) -> Cleanup:
    if not isinstance(value, str) or ":" not in value.strip(":"):
        raise fail(f"{where}: 'function' must be written 'file.py:function_name', not {value!r}")
    file, _, name = value.rpartition(":")
    path = os.path.join(folder, os.path.expanduser(file))
    if not os.path.isfile(path):
        raise fail(f"{where}: the Python file {path!r} does not exist")
    module_name = "dgenerate_llm_cleanup_" + format(zlib.crc32(path.encode()), "x")
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as error:  # the user's code: anything may go wrong
        raise fail(f"{where}: {path!r} failed to load: {type(error).__name__}: {error}"
                   ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise fail(f"{where}: {path!r} defines no function {name!r}")
    return function
