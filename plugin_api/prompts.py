"""Prompt text shared by the kernel and plugins: embedded ``<name: value>`` arguments and
prompt-upscaler chains.

A prompt may carry arguments for itself only (``<inference-steps: 50> a cat``,
``<upscaler: dynamicprompts> a {red|blue} ball``). Their canonical place is the front
of the positive part, which is where :func:`parse_prompt` puts them: a value may hold a
``;`` (a URI), so they are taken out before the prompt is split into its parts.
The scanner is our own: the syntax is dgenerate's.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Annotated

from .args import Arg
from .errors import DgenerateError, PluginArgumentError, PluginError
from .interfaces.prompt_upscaler import PromptUpscaler
from .values import Prompt

__all__ = [
    "PARTS",
    "PartwiseUpscaler",
    "PromptArgument",
    "join_prompt_arguments",
    "parse_prompt",
    "split_prompt_arguments",
    "upscale_prompts",
]

#: the parts of a prompt a :class:`PartwiseUpscaler` may act on
PARTS = ("both", "positive", "negative")

_OPENING = re.compile(r"<\s*([A-Za-z][A-Za-z0-9_-]*)\s*:")


@dataclasses.dataclass(frozen=True)
class PromptArgument:
    """One ``<name: value>``: the name in lower case with ``-`` for ``_``, the value
    stripped, and the text as written."""

    name: str
    value: str
    text: str


def _closing(text: str, start: int) -> int:
    """The index of the ``>`` closing an argument whose value starts at ``start``; quoted
    text (a URI argument such as ``preamble="a > b"``) may hold a ``>``."""
    quote = None
    for index in range(start, len(text)):
        character = text[index]
        if quote:
            if character == quote:
                quote = None
        elif character in "\"'":
            quote = character
        elif character == ">":
            return index
    return -1


def split_prompt_arguments(text: str) -> tuple[str, list[PromptArgument]]:
    """Take every ``<name: value>`` out of ``text``: the remaining text (blanks at the
    joins collapsed, ends stripped) and the arguments in order. A ``<`` that does not
    open a complete argument stays text."""
    arguments: list[PromptArgument] = []
    kept: list[str] = []
    position = 0
    for match in _OPENING.finditer(text):
        if match.start() < position:
            continue
        end = _closing(text, match.end())
        if end < 0:
            break
        kept.append(text[position:match.start()])
        name = match.group(1).lower().replace("_", "-")
        arguments.append(PromptArgument(name, text[match.end():end].strip(),
                                        text[match.start():end + 1]))
        position = end + 1
    kept.append(text[position:])
    if not arguments:
        return text.strip(), []
    remaining = ""
    for piece in kept:
        if remaining and piece and not remaining[-1].isspace() and not piece[0].isspace():
            remaining += " "
        remaining += piece
    return re.sub(r"[ \t]{2,}", " ", remaining).strip(), arguments


def join_prompt_arguments(arguments: Sequence[PromptArgument], text: str) -> str:
    """``text`` with ``arguments`` written in front of it, as :func:`parse_prompt` puts
    them."""
    return " ".join([*(argument.text for argument in arguments), text]).strip() if (
        arguments) else text


def parse_prompt(text: str) -> Prompt:
    """A prompt as written (``"positive; negative"``) with its embedded arguments, wherever
    they were, moved to the front of the positive part."""
    rest, arguments = split_prompt_arguments(text)
    prompt = Prompt.parse(rest)
    return prompt._replace(positive=join_prompt_arguments(arguments, prompt.positive))


def _bare(prompt: Prompt) -> tuple[Prompt, list[PromptArgument]]:
    positive, arguments = split_prompt_arguments(prompt.positive)
    return prompt._replace(positive=positive), arguments


def _results(upscaler: PromptUpscaler, uri: str, prompts: list[Prompt]) -> list[list[Prompt]]:
    try:
        results = upscaler.upscale_all(prompts)
    except DgenerateError:
        raise
    except Exception as error:
        raise PluginError(f"prompt upscaler {uri!r} failed: {type(error).__name__}: "
                          f"{error}") from error
    if not isinstance(results, list) or len(results) != len(prompts):
        raise PluginError(f"prompt upscaler {uri!r} returned {type(results).__name__} for "
                          f"{len(prompts)} prompts, not one list of prompts per prompt")
    for prompt, result in zip(prompts, results, strict=True):
        if not result:
            raise DgenerateError(f"prompt upscaler {uri!r} turned the prompt "
                                 f"{str(prompt)!r} into no prompt at all")
        for item in result:
            if not isinstance(item, Prompt):
                raise PluginError(f"prompt upscaler {uri!r} returned {item!r}, not a Prompt")
    return results


def upscale_prompts(prompts: Sequence[Prompt], chain: Sequence[str],
                    create: Callable[[str], PromptUpscaler]) -> list[Prompt]:
    """Every prompt through its upscaler chain, results in order.

    A prompt's chain is its own ``<upscaler: URI>`` arguments when it has any, else
    ``chain``. The upscalers see prompts without embedded arguments; every result gets
    the other arguments of its prompt back. Prompts sharing a chain are handed to each
    upscaler together (one batch); ``create`` makes an upscaler from its URI (callers
    create each URI once)."""
    bare: list[tuple[Prompt, list[PromptArgument], tuple[str, ...]]] = []
    for prompt in prompts:
        text, arguments = _bare(prompt)
        own = tuple(argument.value for argument in arguments if argument.name == "upscaler")
        for uri in own:
            if not uri:
                raise DgenerateError(f"--prompts {str(prompt)!r}: <upscaler: > names no "
                                     "prompt upscaler")
        kept = [argument for argument in arguments if argument.name != "upscaler"]
        bare.append((text, kept, own or tuple(chain)))
    expanded: list[list[Prompt]] = [[text] for text, _, _ in bare]
    for uris in dict.fromkeys(uris for _, _, uris in bare):
        members = [index for index, (_, _, own) in enumerate(bare) if own == uris]
        for uri in uris:
            upscaler = create(uri)
            flat = [prompt for index in members for prompt in expanded[index]]
            results = iter(_results(upscaler, uri, flat))
            for index in members:
                expanded[index] = [item for _ in expanded[index] for item in next(results)]
    return [prompt._replace(positive=join_prompt_arguments(kept, prompt.positive))
            for (_, kept, _), results in zip(bare, expanded, strict=True) for prompt in results]


class PartwiseUpscaler(PromptUpscaler):
    """An upscaler that rewrites the texts of the parts chosen by ``part`` (``both``,
    ``positive`` or ``negative``): subclasses implement :meth:`expand_texts`.

    Each distinct text is expanded once per batch. When both parts of a prompt expand,
    ``pairs = True`` (the default: variations of a generator) pairs result *i* of the
    positive with result *i* of the negative, the shorter list repeating; ``pairs =
    False`` (combinatorial expanders) renders every positive with every negative."""

    pairs = True

    def __init__(self, part: str = "both", *,
                 owner: Annotated[str, Arg(hidden=True)] = "prompt upscaler") -> None:
        if part not in PARTS:
            raise PluginArgumentError(f"{owner}: part={part!r} is not one of {', '.join(PARTS)}")
        self.part = part

    @abc.abstractmethod
    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        """One non-empty list of texts for each text, in order."""

    def upscale(self, prompt: Prompt) -> list[Prompt]:
        return self.upscale_all([prompt])[0]

    def _acts_on(self, text: str | None, part: str) -> bool:
        return bool(text and text.strip()) and self.part in ("both", part)

    def upscale_all(self, prompts: Sequence[Prompt]) -> list[list[Prompt]]:
        texts = list(dict.fromkeys(
            text for prompt in prompts for text, part in (
                (prompt.positive, "positive"), (prompt.negative, "negative"))
            if self._acts_on(text, part)))
        expanded = dict(zip(texts, self.expand_texts(texts) if texts else [], strict=True))
        results = []
        for prompt in prompts:
            positives = (expanded[prompt.positive] if self._acts_on(prompt.positive, "positive")
                         else [prompt.positive])
            negatives = (expanded[prompt.negative] if self._acts_on(prompt.negative, "negative")
                         else [prompt.negative])
            if self.pairs:
                count = max(len(positives), len(negatives))
                combined = zip(itertools.islice(itertools.cycle(positives), count),
                               itertools.islice(itertools.cycle(negatives), count), strict=True)
            else:
                combined = itertools.product(positives, negatives)
            results.append([Prompt(positive, negative) for positive, negative in combined])
        return results
