"""Base class of model types: one family of diffusion models (``--model-type``)."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ..args import ArgSpec
from ..errors import DgenerateError
from ..render import Mode
from ..values import Size

if TYPE_CHECKING:
    from PIL.Image import Image

    from ..render import Job, ModelSource, RenderContext, RenderRequest

__all__ = ["IMAGE_SEED_INPUTS", "Capabilities", "ModelType", "RenderOutput"]

#: The parts of an image seed besides its images, by the names capabilities use.
IMAGE_SEED_INPUTS = ("mask", "control", "adapter", "latents", "floyd")


@dataclasses.dataclass(frozen=True)
class RenderOutput:
    """The images of one job, plus facts for metadata (``scheduler``, ``sampler`` - its
    Automatic1111 name, ``model_hash`` ...). For a job with ``latents_output`` the
    "images" are latents tensors, (channels, height, width) each."""

    images: list[Image]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a model type can do, declared in its spec so the kernel can check a request
    before anything loads (a dry run too).

    :param modes: the modes it renders; txt2img needs no image seed, img2img an image,
        inpaint an image and a mask.
    :param inputs: the image-seed parts it accepts besides images (see
        ``IMAGE_SEED_INPUTS``; ``mask`` is implied by the inpaint mode).
    :param slots: the sub-model slots it accepts (``vae``, ``unet``, ``lora`` ...).
    :param strength: it uses ``--image-seed-strengths`` with an input image.
    :param default_size: the txt2img size without ``--output-size``; ``None`` asks
        :meth:`ModelType.default_size` (the loaded model knows).
    :param batched_images: several input images may go into one call (``images:``), one
        per output image. When false the images are *image prompts* (Stable Cascade): every
        job gets all the images of its seed as they are, neither resized nor aligned (their
        sizes may differ), and the output size is ``--output-size`` or the default size.
    """

    modes: frozenset[Mode] = frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT})
    inputs: frozenset[str] = frozenset()
    slots: frozenset[str] = frozenset()
    strength: bool = True
    default_size: Size | None = None
    batched_images: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", frozenset(Mode(mode) for mode in self.modes))
        inputs = frozenset(self.inputs)
        if Mode.INPAINT in self.modes:
            inputs |= {"mask"}
        unknown = inputs - set(IMAGE_SEED_INPUTS)
        if unknown:
            raise DgenerateError(f"unknown image-seed inputs {sorted(unknown)}; use "
                                 f"{', '.join(IMAGE_SEED_INPUTS)}")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "slots", frozenset(self.slots))


class ModelType(abc.ABC):
    """A family of diffusion models, selected with ``--model-type``.

    The kernel knows no model family by name: it parses the options, expands
    the jobs, prepares input images and writes the results; everything about
    loading and calling the pipelines of one family lives in its model type.
    One instance is created per invocation with the model to use.

    A model type renders a job in one of two ways:

    * **in phases** (what the builtin families do): :meth:`load_key` / :meth:`load`
      give the pipeline (the kernel caches it under the key), :meth:`call_arguments`
      builds the call, and :meth:`call` runs it. Between the last two the kernel lets
      the prompt weighter replace prompts with embeddings and the pipeline extensions
      (FreeU ...) adjust the pipeline, and undoes the extensions afterwards.
    * **in one step**: override :meth:`render` only. Simple, but prompt weighters and
      pipeline extensions cannot act on it (asking for one is an error).

    The diffusion toolkit (``dgenerate.plugin_api.diffusion``) has a base class doing
    the phases for diffusers pipelines from a table of pipeline classes.
    """

    #: set by the kernel from the spec before the model type is created
    capabilities: Capabilities = Capabilities()

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

    # ----------------------------------------------------------------- phases

    def load_key(self, job: Job) -> Hashable:
        """The cache key of the pipeline :meth:`load` makes for ``job``: jobs with equal
        keys share one pipeline (the kernel's ``pipeline`` cache holds it, for every model
        type: include what tells yours apart, such as its class name and the model path)."""
        raise NotImplementedError

    def load(self, job: Job) -> Any:
        """Load (or assemble from cached parts) the pipeline for ``job``."""
        raise NotImplementedError

    def load_size(self, job: Job) -> int | None:
        """An estimate in bytes of what :meth:`load` holds in memory, for cache eviction."""
        return None

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        """The keyword arguments of the pipeline call for ``job``."""
        raise NotImplementedError

    def call(self, job: Job, pipeline: Any, arguments: dict[str, Any]) -> RenderOutput:
        """Call the pipeline and return ``job.batch_size`` images."""
        raise NotImplementedError

    # --------------------------------------------------------------- one step

    def render(self, job: Job) -> RenderOutput:
        """Run one job and return ``job.batch_size`` images (the one-step way)."""
        raise NotImplementedError

    @classmethod
    def renders_in_phases(cls) -> bool:
        """Whether the kernel runs the phases (``render`` is not overridden)."""
        return cls.render is ModelType.render

    def help_text(self, request: RenderRequest) -> str | None:
        """Text to print instead of rendering, when one of the model type's own options asks
        for help (``--second-model-schedulers help``); ``None`` renders. Called after
        :meth:`check`, in real runs only (the text may need the loaded model)."""
        return None

    # -------------------------------------------------------------- schedulers

    def describe_schedulers(self, path: str, *, arguments: bool = False,
                            names: list[str] | None = None) -> str:
        """The ``--schedulers help`` text: the schedulers that can drive the model at
        ``path`` (:meth:`scheduler_names`, or ``names``), with their URI arguments when
        ``arguments`` (``helpargs``)."""
        names = self.scheduler_names() if names is None else names
        lines = [f'Compatible schedulers for "{path}" are:', ""]
        for name in names:
            if not arguments:
                lines.append(f'    "{name}"')
                continue
            lines.append(f"{name}:")
            lines.extend(f"    {argument.describe()}" for argument in
                         self.scheduler_arguments(name))
            lines.append("")
        return "\n".join(lines).rstrip("\n") + ("\n" if arguments else "")

    def scheduler_names(self) -> list[str]:
        """The schedulers that can drive this model (``--scheduler help``)."""
        raise DgenerateError(f"model type {self.source.model_type!r} has no selectable schedulers")

    def scheduler_arguments(self, name: str) -> tuple[ArgSpec, ...]:
        """The URI arguments of a scheduler, with defaults (``--scheduler helpargs``)."""
        raise DgenerateError(f"model type {self.source.model_type!r} has no selectable schedulers")
