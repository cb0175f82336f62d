"""Base class of pipeline extensions: adjust a pipeline or its call for one job."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..render import Job

__all__ = ["PipelineExtension"]


class PipelineExtension(abc.ABC):
    """Adjusts a loaded pipeline or its call, switched on by the extension's own options.

    The spec declares the options (``PipelineExtensionSpec.options``). For each job
    the kernel asks :meth:`enabled`; when true it calls :meth:`apply` after the
    model type has built the call arguments (and the prompt weighter has run) and
    :meth:`remove` after the call, even when the call failed. One instance serves an
    invocation; the constructor may take a ``context`` argument (the render context).
    The extension reads its values from ``job.values``.
    """

    def enabled(self, job: Job) -> bool:
        """Whether ``job`` asks for this extension; by default, when any option the
        spec declares has a value in ``job.values``."""
        names = getattr(self, "option_names", ())
        return any(job.values.get(name) is not None and job.values.get(name) is not False
                   for name in names)

    @abc.abstractmethod
    def apply(self, pipeline: Any, arguments: dict[str, Any], job: Job) -> dict[str, Any]:
        """Change the pipeline (and, if needed, the call arguments) before the call;
        return the arguments to call with."""

    def remove(self, pipeline: Any) -> None:  # noqa: B027 - optional, empty by default
        """Undo what :meth:`apply` changed on the pipeline. Optional."""
