"""Events of the render loop, delivered to plugins through ``dgenerate_render_event``.

Plugins match the events they care about with ``isinstance``; new event types
may be added, so ignore the rest.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .render import Job, RenderRequest

__all__ = ["JobFinished", "JobStarted", "RenderEvent", "RenderFinished", "RenderStarted"]


@dataclasses.dataclass(frozen=True)
class RenderEvent:
    """Base class of render events."""


@dataclasses.dataclass(frozen=True)
class RenderStarted(RenderEvent):
    request: RenderRequest
    job_count: int


@dataclasses.dataclass(frozen=True)
class JobStarted(RenderEvent):
    job: Job


@dataclasses.dataclass(frozen=True)
class JobFinished(RenderEvent):
    job: Job
    files: tuple[str, ...]
    info: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RenderFinished(RenderEvent):
    request: RenderRequest
    files: tuple[str, ...]
