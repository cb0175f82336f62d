"""The Ray actors that render jobs, and the pool that keeps them between invocations.

An actor is one worker slot: a process holding a kernel context, so the pipeline it
loads for one job serves the next ones (and the next config script lines).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import ray

__all__ = ["Pool", "Worker"]

#: environment variables a worker needs as the driver has them (caches, offline mode,
#: plugin switches); Ray starts workers from its own environment otherwise
_PASSED_PREFIXES = ("DGENERATE_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "DIFFUSERS_",
                    "XDG_CACHE_HOME", "TORCH_HOME", "CUDA_")


class _WorkerActor:
    """One worker slot (a Ray actor; the class is wrapped with ray.remote when used)."""

    def __init__(self, threads: int) -> None:
        import torch

        # Ray limits a worker to the CPUs it reserves; the thread count decides how float
        # sums are split, so it is set as the driver has it (same pixels, bit for bit)
        torch.set_num_threads(threads)
        self._render: Callable[[Any], Any] | None = None
        self._error: BaseException | None = None

    def pid(self) -> int:
        return os.getpid()

    def open(self, start: Callable[[Any], Callable[[Any], Any]], state: Any) -> None:
        """Prepare the invocation ``state`` describes (the kernel's ``start``); a failure is
        raised by the jobs that follow, where the executor waits for them."""
        self._render, self._error = None, None
        try:
            self._render = start(state)
        except BaseException as error:
            self._error = error

    def render(self, job: Any) -> Any:
        if self._error is not None:
            raise self._error
        assert self._render is not None, "open() first"
        return self._render(job)


Worker = ray.remote(_WorkerActor)


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith(_PASSED_PREFIXES)}


class Pool:
    """The live actors of one resource shape, created on demand and replaced when one dies."""

    def __init__(self, count: int, num_cpus: float, num_gpus: float, threads: int) -> None:
        self.count = count
        self.threads = threads
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.actors: list[Any] = []

    def new_actor(self) -> Any:
        return Worker.options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                              runtime_env={"env_vars": _environment()}).remote(self.threads)

    def fill(self) -> list[Any]:
        """Start actors until there are ``count``."""
        while len(self.actors) < self.count:
            self.actors.append(self.new_actor())
        return self.actors

    def replace(self, actor: Any) -> Any:
        """Drop a dead actor; start another in its place."""
        self.remove(actor)
        fresh = self.new_actor()
        self.actors.append(fresh)
        return fresh

    def remove(self, actor: Any) -> None:
        if actor in self.actors:
            self.actors.remove(actor)
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)

    def close(self) -> None:
        for actor in list(self.actors):
            self.remove(actor)
