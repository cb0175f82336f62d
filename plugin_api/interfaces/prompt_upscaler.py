"""Base class of prompt upscalers."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ..values import Prompt

__all__ = ["PromptUpscaler"]


class PromptUpscaler(abc.ABC):
    """Rewrites or expands prompts before generation.

    One prompt may become several (each is rendered in turn), which is how
    upscalers such as a dynamic-prompts expander multiply the jobs.
    """

    @abc.abstractmethod
    def upscale(self, prompts: Sequence[Prompt]) -> list[Prompt]:
        """Return the prompts to render in place of ``prompts``."""
