"""Base class of job executors (provisional until the render loop lands)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["JobExecutor"]


class JobExecutor(abc.ABC):
    """Decides where and in which order render jobs run.

    The default executor runs each job in this process, one after another; a
    distributed executor may send them elsewhere. ``run_job`` performs one job
    and returns its result.
    """

    @abc.abstractmethod
    def execute(self, jobs: Iterable[Any], run_job: Callable[[Any], Any]) -> Iterable[Any]:
        """Run every job and yield the results in job order."""
