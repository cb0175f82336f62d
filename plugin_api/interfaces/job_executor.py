"""Base class of job executors: where and in which order render jobs run."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["JobExecutor"]


class JobExecutor(abc.ABC):
    """Decides where and in which order render jobs run.

    Selected with ``--job-executor URI`` (``local`` by default: each job in this
    process, one after another). The kernel hands the jobs of one invocation, in
    grid order, and ``run_job``, which renders one job and writes its files; an
    executor must run every job exactly once and return when all are done.
    """

    @abc.abstractmethod
    def execute(self, jobs: Iterable[Any], run_job: Callable[[Any], Any]) -> None:
        """Run every job of ``jobs`` with ``run_job``."""
