"""What the render loop hands to model-type plugins.

The kernel parses the command line into a :class:`RenderRequest`, expands its
multi-valued options into :class:`Job` records (one per generation step) and
asks the model type to render each job. The model type knows its diffusers
pipelines; the kernel knows none of them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any, Protocol

from .context import PluginContext
from .values import Prompt, Size

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "Job",
    "Mode",
    "ModelSource",
    "ObjectCache",
    "RenderContext",
    "RenderRequest",
]


class Mode(enum.StrEnum):
    """What a job does with its inputs."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSource:
    """Where and how to load the main model (the positional ``model_path`` and its options).

    ``path`` is as the user wrote it; the model type resolves it (folder, Hugging
    Face slug or blob link, URL, single-file checkpoint) with the context's help.
    ``dtype`` is one of ``auto``, ``float16``, ``bfloat16``, ``float32``.
    """

    path: str
    model_type: str = "sd"
    revision: str = "main"
    variant: str | None = None
    subfolder: str | None = None
    auth_token: str | None = None
    original_config: str | None = None
    dtype: str = "auto"
    device: str = "cpu"
    safety_checker: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class RenderRequest:
    """Every render option of one invocation, parsed and checked for syntax.

    Multi-valued options are lists: each value is tried in turn. ``None`` in
    ``schedulers`` / ``sigmas`` / ``clip_skips`` / ``guidance_rescales`` means
    "the model's default".
    """

    source: ModelSource
    prompts: tuple[Prompt, ...] = (Prompt(""),)
    seeds: tuple[int, ...] = (0,)
    seeds_to_images: bool = False
    inference_steps: tuple[int, ...] = (30,)
    guidance_scales: tuple[float, ...] = (5.0,)
    guidance_rescales: tuple[float | None, ...] = (None,)
    image_seed_strengths: tuple[float, ...] = (0.8,)
    clip_skips: tuple[int | None, ...] = (None,)
    schedulers: tuple[str | None, ...] = (None,)
    sigmas: tuple[str | None, ...] = (None,)
    batch_size: int = 1
    output_size: Size | None = None
    no_aspect: bool = False
    uses_image_seeds: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """One generation step: every multi-valued option fixed to one value.

    ``seeds`` has one seed per output image: batch item ``i`` of a job with seed
    ``s`` uses ``s + i``, so a seed gives the same image whatever the batch size.
    ``images`` and ``masks`` (img2img / inpaint) hold one input per output image,
    already resized and processed; ``width``/``height`` is the output size.
    """

    number: int
    mode: Mode
    prompt: Prompt
    seeds: tuple[int, ...]
    inference_steps: int
    guidance_scale: float
    width: int | None = None
    height: int | None = None
    guidance_rescale: float | None = None
    strength: float | None = None
    clip_skip: int | None = None
    scheduler: str | None = None
    sigmas: str | None = None
    images: tuple[Image, ...] = ()
    masks: tuple[Image, ...] = ()

    @property
    def batch_size(self) -> int:
        return len(self.seeds)


class ObjectCache(Protocol):
    """A named in-memory cache of expensive objects (pipelines, sub-models)."""

    def get_or_create(self, key: Any, create: Any, *, size: int | None = None) -> Any:
        """The object cached under ``key``, or ``create()`` cached with an estimated
        ``size`` in bytes (used to evict older entries when memory runs short)."""


class RenderContext(PluginContext, Protocol):
    """Kernel services available to a model type while it renders."""

    def cache(self, name: str) -> ObjectCache:
        """The named cache (``pipeline``, ``unet``, ``vae``, ``text_encoder`` ...)."""

    def fetch(self, url: str) -> str:
        """Download ``url`` into the web cache (or reuse it) and return the local path."""

    def debug(self, message: str) -> None:
        """Print a line with ``-v``."""

    def warn(self, message: str) -> None:
        """Tell the user something was adjusted or may not be what they meant (always shown,
        on standard error, as ``dgenerate: warning: ...``)."""

    def progress(self, total: int, description: str) -> Any:
        """A progress bar (tqdm-like: ``update(n)``, ``close()``), quiet when not a terminal."""
