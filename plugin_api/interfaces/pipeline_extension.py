"""Base class of pipeline extensions (provisional until the render loop lands)."""

from __future__ import annotations

import abc
import argparse
from typing import Any

__all__ = ["PipelineExtension"]


class PipelineExtension(abc.ABC):
    """Adjusts a loaded pipeline or its call, switched on by the extension's own options.

    The extension declares its command-line options in ``dgenerate_add_options``;
    the render loop asks :meth:`enabled` with the parsed options and, when true,
    lets it change the pipeline before the call and restore it afterwards.
    """

    @abc.abstractmethod
    def enabled(self, options: argparse.Namespace) -> bool:
        """Whether the options ask for this extension."""

    @abc.abstractmethod
    def apply(self, pipeline: Any, call_args: dict[str, Any],
              options: argparse.Namespace) -> dict[str, Any]:
        """Change the pipeline (and, if needed, the call arguments) before a call."""

    def remove(self, pipeline: Any) -> None:  # noqa: B027 - optional, empty by default
        """Undo what :meth:`apply` changed on the pipeline. Optional."""
