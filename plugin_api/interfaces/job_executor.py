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

    An executor that renders in other processes uses ``run_job.remote`` instead of
    calling ``run_job``: send ``remote.state`` (plain data, standard pickle) to each
    worker once, call ``remote.start(state)`` there (a kernel function, pickled by
    reference) to get ``render(job)``, which renders one job in that process, writes its
    files to the output folder (which the worker must see) and returns a report; hand
    every report back with ``remote.deliver(job, report)`` in this process, in job order,
    so that what is printed, the results and the events are those of a local run.
    ``plugins_builtin/job_executors/ray/`` is the example.
    """

    @abc.abstractmethod
    def execute(self, jobs: Iterable[Any], run_job: Callable[[Any], Any]) -> None:
        """Run every job of ``jobs`` with ``run_job``."""
