"""The ``ray`` job executor: the jobs of one invocation spread over Ray actors.

Each actor is a long-lived worker slot (see :mod:`.workers`) that renders the jobs it is
given and writes their files to the output folder, which every node must see (a local
folder on one machine, shared storage on a cluster). The outcomes come back here and are
handed to the kernel in job order, so what is printed, the ``last_*`` variables and the
events are those of the local executor; images are the same bit for bit because every
job carries its own seeds. A job whose worker dies runs again on a new one.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from dgenerate.plugin_api import Arg, DgenerateError, JobExecutor, PluginArgumentError

__all__ = ["RayExecutor"]

#: actor pools by (address, workers, cpus, gpus, threads), kept for the life of this process so a
#: config script's next line finds its workers (and their loaded models) ready
_POOLS: dict[tuple[Any, ...], Any] = {}


class RayExecutor(JobExecutor):
    """Runs the jobs on a Ray cluster.

    Without address a Ray instance is started in this process, using this machine
    (stopped when the program ends). address=auto joins the cluster started with
    "ray start" on this machine; address=ray://HOST:10001 joins a remote one through
    the Ray client. Each worker slot is an actor reserving num-cpus CPUs and num-gpus
    GPUs; workers (default: as many as the cluster's resources hold) says how many.
    Workers write the files into --output-path, which every node must see (shared
    storage on a cluster); image seed files must be readable there too (or be URLs).
    A job whose worker dies (a lost node, an out-of-memory kill) runs again on a new
    worker, up to max-retries times.
    """

    def __init__(
        self,
        *,
        address: Annotated[str | None, Arg(help="the cluster to join: auto, ray://HOST:PORT, or "
                                                "none for a Ray instance in this process")] = None,
        workers: Annotated[int | None, Arg(help="worker slots (default: as many as the "
                                                "resources hold)")] = None,
        num_cpus: Annotated[float, Arg(help="CPUs each worker reserves")] = 1.0,
        num_gpus: Annotated[float, Arg(help="GPUs each worker reserves (a fraction shares "
                                            "one GPU between workers)")] = 0.0,
        max_retries: Annotated[int, Arg(help="how often a job runs again after its worker "
                                             "died")] = 3,
        threads: Annotated[int | None, Arg(help="CPU threads of each worker (default: as many "
                                                "as this process uses, so CPU renders equal "
                                                "the local executor's bit for bit)")] = None,
        context: Annotated[Any, Arg(hidden=True)] = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise PluginArgumentError(f"ray: workers={workers} must be at least 1")
        if num_cpus < 0 or num_gpus < 0 or (num_cpus == 0 and num_gpus == 0):
            raise PluginArgumentError(f"ray: num-cpus={num_cpus:g} and num-gpus={num_gpus:g} "
                                      "must not be negative, and not both 0")
        if threads is not None and threads < 1:
            raise PluginArgumentError(f"ray: threads={threads} must be at least 1")
        if max_retries < 0:
            raise PluginArgumentError(f"ray: max-retries={max_retries} must be 0 or more")
        self.address = address
        self.workers = workers
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_retries = max_retries
        self.threads = threads
        self.verbose = bool(getattr(context, "verbose", False))

    # ------------------------------------------------------------------ cluster

    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        # ray.init installs its own handlers; dgenerate's turn SIGTERM and Ctrl-C into a
        # clean stop (exit status 143 / 130) that cancels the cluster work
        handlers = {number: signal.getsignal(number) for number in (signal.SIGINT,
                                                                    signal.SIGTERM)}
        try:
            # the workers' own output (library warnings, progress bars) only with -v
            ray.init(address=self.address, include_dashboard=False,
                     logging_level="INFO" if self.verbose else "ERROR",
                     log_to_driver=self.verbose)
        except ConnectionError as error:
            raise DgenerateError(f"--job-executor ray: cannot reach the Ray cluster at "
                                 f"address={self.address}: {error}") from None
        finally:
            if threading.current_thread() is threading.main_thread():
                for number, handler in handlers.items():
                    if handler is not None:
                        signal.signal(number, handler)

    def _worker_count(self) -> int:
        import ray

        if self.workers is not None:
            return self.workers
        resources = ray.cluster_resources()
        counts = []
        if self.num_cpus:
            counts.append(int(resources.get("CPU", 1) // self.num_cpus))
        if self.num_gpus:
            counts.append(int(resources.get("GPU", 0) // self.num_gpus))
        count = min(counts)
        if count < 1:
            raise DgenerateError(
                f"--job-executor ray: the cluster has {resources.get('CPU', 0):g} CPUs and "
                f"{resources.get('GPU', 0):g} GPUs, too few for one worker with "
                f"num-cpus={self.num_cpus:g} num-gpus={self.num_gpus:g}")
        return count

    def _pool(self) -> Any:
        from .workers import Pool

        threads = self.threads
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        key = (self.address, self.workers, self.num_cpus, self.num_gpus, threads)
        if key not in _POOLS:
            _POOLS[key] = Pool(self._worker_count(), self.num_cpus, self.num_gpus, threads)
        return _POOLS[key]

    # ------------------------------------------------------------------ jobs

    def execute(self, jobs: Iterable[Any], run_job: Callable[[Any], Any]) -> None:
        remote = getattr(run_job, "remote", None)
        if remote is None:  # a kernel without the distributed seam: run here
            for job in jobs:
                run_job(job)
            return
        import ray

        self._connect()
        pool = self._pool()
        _Dispatch(pool, remote, list(jobs), self.max_retries, ray).run()


class _Dispatch:
    """One invocation's jobs over the pool: each idle worker takes the next job; outcomes
    are delivered in job order as soon as the ones before them are in."""

    def __init__(self, pool: Any, remote: Any, jobs: list[Any], max_retries: int,
                 ray: Any) -> None:
        self.pool = pool
        self.remote = remote
        self.jobs = jobs
        self.max_retries = max_retries
        self.ray = ray
        self.state = ray.put(remote.state)
        self.waiting = collections.deque(range(len(jobs)))
        self.failures = collections.Counter()
        self.reports: dict[int, Any] = {}
        self.delivered = 0
        self.running: dict[Any, tuple[int, Any]] = {}  # task -> (job index, actor)
        self.opened: dict[Any, Any] = {}  # actor -> its open() task

    def _open(self, actor: Any) -> None:
        self.opened[actor] = actor.open.remote(self.remote.start, self.state)

    def _assign(self, actor: Any) -> None:
        if self.waiting:
            index = self.waiting.popleft()
            task = actor.render.remote(self.jobs[index])
            self.running[task] = (index, actor)

    def _deliver(self) -> None:
        while self.delivered in self.reports:
            report = self.reports.pop(self.delivered)
            self.remote.deliver(self.jobs[self.delivered], report)
            self.delivered += 1

    def _lost(self, index: int, actor: Any, error: BaseException) -> None:
        """The worker died: the job goes back to the front, a new worker takes its slot."""
        self.failures[index] += 1
        if self.failures[index] > self.max_retries:
            raise DgenerateError(
                f"--job-executor ray: job {index + 1} lost its worker {self.failures[index]} "
                f"times (max-retries={self.max_retries}); the last error: {error}")
        self.waiting.appendleft(index)
        fresh = self.pool.replace(actor)
        self._open(fresh)
        self._assign(fresh)

    def _failed(self, error: Any) -> BaseException:
        """The error a job raised in its worker, as if raised here (a user's mistake stays
        one clear message)."""
        cause = getattr(error, "cause", None)
        return cause if isinstance(cause, BaseException) else error

    def run(self) -> None:
        ray = self.ray
        try:
            for actor in self.pool.fill():
                self._open(actor)
                self._assign(actor)
            while self.running:
                done, _ = ray.wait(list(self.running), num_returns=1)
                task = done[0]
                index, actor = self.running.pop(task)
                try:
                    self.reports[index] = ray.get(task)
                except ray.exceptions.RayActorError as error:
                    self._lost(index, actor, error)
                    continue
                except ray.exceptions.RayTaskError as error:
                    raise self._failed(error) from None
                self._assign(actor)
                self._deliver()
            self._deliver()
        except BaseException:
            # Ctrl-C, SIGTERM or a failed job: stop the cluster work now; the workers are
            # replaced by the next invocation
            for task in list(self.running):
                with contextlib.suppress(Exception):  # its worker is killed next anyway
                    ray.cancel(task)
            self.pool.close()
            raise
        if self.delivered != len(self.jobs):  # a bug here, not a user's mistake
            raise RuntimeError(f"ray: {self.delivered} of {len(self.jobs)} jobs delivered")
