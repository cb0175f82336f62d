"""The ``local`` job executor: every job in this process, in grid order (the default).

Written as a plugin like any other executor, so a distributed one replaces it by
name; it is light (no heavy imports), so it is its own registration module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dgenerate.plugin_api import JobExecutor, JobExecutorSpec, hookimpl


class LocalExecutor(JobExecutor):
    """Runs each job here, one after another, in the order of the grid."""

    def execute(self, jobs: Iterable[Any], run_job: Callable[[Any], Any]) -> None:
        for job in jobs:
            run_job(job)


@hookimpl
def dgenerate_job_executors():
    yield JobExecutorSpec(name="local", summary="Run the jobs in this process, in grid order.",
                          target=":LocalExecutor")
