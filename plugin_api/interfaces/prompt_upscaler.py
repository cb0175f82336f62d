"""Base class of prompt upscalers: prompts in, rewritten or more prompts out."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ..values import Prompt

__all__ = ["PromptUpscaler"]


class PromptUpscaler(abc.ABC):
    """Rewrites or expands prompts before any job of an invocation is built.

    Selected with ``--prompt-upscaler URI ...`` (a chain), the per-prompt-option
    variants (``--second-prompt-upscaler`` ...) or ``<upscaler: URI>`` inside a prompt.
    The kernel hands each upscaler the prompts without their embedded ``<name: value>``
    arguments (it puts them back on every result), runs a chain in order, and renders
    every prompt returned, in order: one prompt may become several, which is how an
    expander multiplies the jobs.

    The constructor may take ``context`` (the plugin context) and ``device`` (the
    ``--device`` of the invocation, unless the URI gives a ``device`` argument).
    """

    @abc.abstractmethod
    def upscale(self, prompt: Prompt) -> Prompt | Sequence[Prompt]:
        """The prompt, or the prompts, to render in place of ``prompt``."""

    def upscale_all(self, prompts: Sequence[Prompt]) -> list[list[Prompt]]:
        """One list of results per prompt, in order. The kernel calls this; override it to
        work on every prompt at once (an LLM generating a batch)."""
        results = []
        for prompt in prompts:
            result = self.upscale(prompt)
            results.append([result] if isinstance(result, Prompt) else list(result))
        return results
