"""Base class of model types: one family of diffusion models (``--model-type``)."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any

from ..args import ArgSpec
from ..errors import DgenerateError
from ..values import Size

if TYPE_CHECKING:
    from PIL.Image import Image

    from ..render import Job, ModelSource, RenderContext, RenderRequest

__all__ = ["ModelType", "RenderOutput"]


@dataclasses.dataclass(frozen=True)
class RenderOutput:
    """The images of one job, plus facts for metadata (``scheduler``, ``model_hash`` ...)."""

    images: list[Image]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


class ModelType(abc.ABC):
    """A family of diffusion models, selected with ``--model-type``.

    The kernel knows no model family by name: it parses the options, expands
    the jobs, prepares input images and writes the results; everything about
    loading and calling the diffusers pipelines of one family lives in its
    model type. One instance is created per invocation with the model to use.
    """

    def __init__(self, *, context: RenderContext, source: ModelSource) -> None:
        self.context = context
        self.source = source

    def check(self, request: RenderRequest) -> None:  # noqa: B027 - accepting all is a default
        """Reject options this model type cannot honour, before anything loads.

        Raise :class:`DgenerateError` naming the option. The default accepts everything.
        """

    @abc.abstractmethod
    def default_size(self) -> Size:
        """The txt2img size when ``--output-size`` is not given (the model's native size)."""

    @abc.abstractmethod
    def render(self, job: Job) -> RenderOutput:
        """Run one job and return ``job.batch_size`` images."""

    def scheduler_names(self) -> list[str]:
        """The schedulers that can drive this model (``--scheduler help``)."""
        raise DgenerateError(f"model type {self.source.model_type!r} has no selectable schedulers")

    def scheduler_arguments(self, name: str) -> tuple[ArgSpec, ...]:
        """The URI arguments of a scheduler, with defaults (``--scheduler helpargs``)."""
        raise DgenerateError(f"model type {self.source.model_type!r} has no selectable schedulers")
