"""Base class of prompt weighters (provisional until the render loop lands)."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["PromptWeighter"]


class PromptWeighter(abc.ABC):
    """Turns weighted prompt syntax into embeddings for a pipeline call.

    The render loop hands the pipeline and the keyword arguments it is about to
    call it with; the weighter returns new arguments in which the prompt texts
    are replaced by the embeddings it computed.
    """

    @abc.abstractmethod
    def translate(self, pipeline: Any, call_args: dict[str, Any]) -> dict[str, Any]:
        """Return the call arguments with prompts replaced by embeddings."""

    def cleanup(self) -> None:  # noqa: B027 - optional, empty by default
        """Release memory held for the last call (tensors, hooks). Optional."""
