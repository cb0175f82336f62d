"""Base class of prompt weighters: prompts with weights in, embeddings out."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["PromptWeighter"]


class PromptWeighter(abc.ABC):
    """Turns weighted prompt syntax into embeddings for a pipeline call.

    Selected with ``--prompt-weighter URI``. For each job the kernel hands the
    pipeline and the keyword arguments the model type is about to call it with (after
    :meth:`ModelType.call_arguments`, before pipeline extensions); the weighter
    returns new arguments in which the prompt texts are replaced by the embeddings it
    computed. The constructor may take a ``context`` argument (the render context)
    and ``model_type`` (the ``--model-type`` name), to refuse families it cannot weigh.
    """

    @abc.abstractmethod
    def translate(self, pipeline: Any, call_args: dict[str, Any]) -> dict[str, Any]:
        """Return the call arguments with prompts replaced by embeddings."""

    def cleanup(self) -> None:  # noqa: B027 - optional, empty by default
        """Release memory held for the last call (tensors, hooks). Called after every
        call, also a failed one. Optional."""
