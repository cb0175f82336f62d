"""Base class of prompt upscalers (provisional, not called yet).

Nothing runs prompt upscalers yet: the option that will (``--prompt-upscaler``) does
not exist yet, and this interface may change when it arrives.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ..values import Prompt

__all__ = ["PromptUpscaler"]


class PromptUpscaler(abc.ABC):
    """Rewrites or expands prompts before generation (provisional, not called yet).

    One prompt may become several (each is rendered in turn), which is how
    upscalers such as a dynamic-prompts expander multiply the jobs.
    """

    @abc.abstractmethod
    def upscale(self, prompts: Sequence[Prompt]) -> list[Prompt]:
        """Return the prompts to render in place of ``prompts``."""
