"""What the render loop hands to model-type plugins.

The kernel parses the command line into a :class:`RenderRequest`, expands its
multi-valued options into :class:`Job` records (one per generation step) and
asks the model type to render each job. The model type knows its diffusers
pipelines; the kernel knows none of them.
"""

from __future__ import annotations

import dataclasses
import enum
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .context import PluginContext
from .values import Prompt, Size

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "Job",
    "Mode",
    "ModelSource",
    "ModuleSharing",
    "ObjectCache",
    "RenderContext",
    "RenderRequest",
]


# Fields of the first render contract that became options declared by the plugins that
# own them; reading them still works (from ``values``) with a DeprecationWarning.
_MOVED = {
    "original_config": "original_config", "safety_checker": "safety_checker",
    "vae_tiling": "vae_tiling", "vae_slicing": "vae_slicing",
    "guidance_rescales": "guidance_rescales", "clip_skips": "clip_skips",
    "guidance_rescale": "guidance_rescales", "clip_skip": "clip_skips",
}


def _moved(owner: Any, name: str) -> Any:
    """The value of a field that moved into ``values``; AttributeError for anything else."""
    if name not in _MOVED or name.startswith("__"):
        raise AttributeError(f"{type(owner).__name__!r} object has no attribute {name!r}")
    warnings.warn(f"{type(owner).__name__}.{name} is deprecated: read "
                  f"values[{_MOVED[name]!r}] (the option is declared by the plugin that "
                  "owns it)", DeprecationWarning, stacklevel=3)
    value = object.__getattribute__(owner, "values").get(_MOVED[name])
    if name in ("safety_checker", "vae_tiling", "vae_slicing"):
        return bool(value)
    if name in ("guidance_rescales", "clip_skips") and value is None:
        return (None,)
    return value


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
    ``values`` holds the single-valued options plugins declared (``original_config``
    of a family that reads single files ...), by name; ``quantizer`` is the
    ``--quantizer`` URI, if any.
    """

    path: str
    model_type: str
    revision: str = "main"
    variant: str | None = None
    subfolder: str | None = None
    auth_token: str | None = None
    dtype: str = "auto"
    device: str = "cpu"
    quantizer: str | None = None
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __getattr__(self, name: str) -> Any:
        return _moved(self, name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RenderRequest:
    """Every render option of one invocation, parsed and checked for syntax.

    Multi-valued options are lists: each value is tried in turn. ``None`` in
    ``schedulers`` / ``sigmas`` means "the model's default". ``values`` holds the
    options plugins declared, by name: a tuple of values to try for an axis, the
    value for a single option (``None`` when not given and without default).
    """

    source: ModelSource
    prompts: tuple[Prompt, ...] = (Prompt(""),)
    seeds: tuple[int, ...] = (0,)
    seeds_to_images: bool = False
    inference_steps: tuple[int, ...] = (30,)
    guidance_scales: tuple[float, ...] = (5.0,)
    image_seed_strengths: tuple[float, ...] = (0.8,)
    schedulers: tuple[str | None, ...] = (None,)
    sigmas: tuple[str | None, ...] = (None,)
    batch_size: int = 1
    output_size: Size | None = None
    no_aspect: bool = False
    uses_image_seeds: bool = False
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    prompt_weighter: str | None = None
    #: the modes the image seeds ask for (txt2img without any), to refuse early what a
    #: pipeline variant cannot do
    modes: frozenset[Mode] = frozenset({Mode.TXT2IMG})
    #: ``--image-format`` is a tensor format (pt, pth, safetensors): jobs return latents
    latents_output: bool = False

    def __getattr__(self, name: str) -> Any:
        return _moved(self, name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """One generation step: every multi-valued option fixed to one value.

    ``seeds`` has one seed per output image: batch item ``i`` of a job with seed
    ``s`` uses ``s + i``, so a seed gives the same image whatever the batch size.
    ``images`` and ``masks`` (img2img / inpaint) hold one input per output image,
    already resized and processed; ``width``/``height`` is the output size.
    ``control_images`` holds one control image per model of the sub-model kind taking
    them (ControlNets ...), in option order, sized like the inputs and processed by
    ``--control-image-processors``; ``adapter_images`` one group of images per IP
    adapter. Both are the same for every image of the batch.
    ``values`` holds the value this job uses of every option plugins declared, by
    name (``job.values["sdxl_high_noise_fractions"]``); ``None`` when not given.

    Model types declaring the ``latents`` input may also get torch tensors read from
    tensor files (``.pt``, ``.pth``, ``.safetensors``), shaped (channels, height, width),
    one per output image: ``latents`` (``latents:`` / ``latents=``: noisy latents to
    denoise further, not VAE-decoded) and ``image_latents`` (a tensor file given as the
    img2img image; ``images`` is empty then and the mode is img2img). With
    ``latents_output`` (a tensor ``--image-format``) the job returns latents tensors in
    :attr:`RenderOutput.images` instead of images. ``floyd_image`` is the ``floyd=``
    image of the seed (the output of an earlier DeepFloyd IF stage), neither resized nor
    processed, for model types declaring the ``floyd`` input. ``prompt_weighter`` is
    the URI of the prompt weighter the kernel applies to this job (``--prompt-weighter``
    or the prompt's ``<weighter: URI>``); ``prompt`` holds no ``<name: value>`` arguments.
    """

    number: int
    mode: Mode
    prompt: Prompt
    seeds: tuple[int, ...]
    inference_steps: int
    guidance_scale: float
    width: int | None = None
    height: int | None = None
    strength: float | None = None
    scheduler: str | None = None
    sigmas: str | None = None
    images: tuple[Image, ...] = ()
    masks: tuple[Image, ...] = ()
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    control_images: tuple[Image, ...] = ()
    adapter_images: tuple[tuple[Image, ...], ...] = ()
    latents: tuple[Any, ...] = ()
    image_latents: tuple[Any, ...] = ()
    floyd_image: Image | None = None
    latents_output: bool = False
    prompt_weighter: str | None = None

    @property
    def batch_size(self) -> int:
        return len(self.seeds)

    def __getattr__(self, name: str) -> Any:
        if name in ("guidance_rescale", "clip_skip"):
            warnings.warn(f"Job.{name} is deprecated: read job.values[{_MOVED[name]!r}]",
                          DeprecationWarning, stacklevel=2)
            return object.__getattribute__(self, "values").get(_MOVED[name])
        return _moved(self, name)


class ObjectCache(Protocol):
    """A named in-memory cache of expensive objects (pipelines, sub-models)."""

    def get_or_create(self, key: Any, create: Any, *, size: int | None = None,
                      device: str = "cpu") -> Any:
        """The object cached under ``key``, or ``create()`` cached with an estimated
        ``size`` in bytes. Before creating, older entries living on ``device`` (where the
        new object will be: ``cuda:1`` ...) are evicted while that device is short of
        memory; each entry's device is read from its ``device`` attribute when needed."""


class ModuleSharing:
    """Pipeline modules handed from one invocation of a config script to the next.

    The kernel keeps one per script session (the ``sharing`` of a
    :class:`~dgenerate.plugin_api.DirectiveContext`): it calls :meth:`loaded` with the
    main pipeline each job of an invocation runs on, and :meth:`begin_invocation` when an
    invocation starts, which hands the modules queued with :meth:`use` to that invocation
    alone (:attr:`current`, what ``RenderContext.shared_modules()`` returns). The
    ``\\save_modules`` and ``\\use_modules`` directives work through it.

    The last pipeline is held weakly where it can be: the ``pipeline`` object cache
    owns it, so ``\\clear_object_cache`` still frees its memory.
    """

    def __init__(self) -> None:
        #: how many invocations have started
        self.invocations = 0
        #: the modules the running invocation loads its main pipeline with, by name
        self.current: dict[str, Any] = {}
        self._queued: tuple[str | None, dict[str, Any]] | None = None
        self._pipeline: Any = None

    def loaded(self, pipeline: Any) -> None:
        """Record the main pipeline of the running invocation."""
        try:
            self._pipeline = weakref.ref(pipeline)
        except TypeError:  # objects without weak references are held as they are
            self._pipeline = lambda: pipeline

    @property
    def pipeline_recorded(self) -> bool:
        """Whether the last invocation recorded a pipeline (it may be freed since)."""
        return self._pipeline is not None

    @property
    def last_pipeline(self) -> Any:
        """The main pipeline of the last invocation; None when it loaded none, or when the
        object caches released it since."""
        return None if self._pipeline is None else self._pipeline()

    def begin_invocation(self) -> None:
        """An invocation starts: it takes the queued modules; no pipeline is recorded yet."""
        self.invocations += 1
        self._pipeline = None
        self.current = self._queued[1] if self._queued else {}
        self._queued = None

    def use(self, modules: Mapping[str, Any], name: str | None = None) -> None:
        """Queue ``modules`` (by pipeline component name) for the next invocation; ``name``
        says where they come from (the ``\\use_modules`` variable)."""
        self._queued = (name, dict(modules))

    @property
    def queued_name(self) -> str | None:
        """The name given with the queued modules (None when none are queued)."""
        return self._queued[0] if self._queued else None

    def cancel(self) -> None:
        """Forget the queued modules."""
        self._queued = None


class RenderContext(PluginContext, Protocol):
    """Kernel services available to a model type while it renders."""

    def shared_modules(self) -> Mapping[str, Any]:
        """Modules to load the main pipeline with instead of loading them (by pipeline
        component name: ``{"vae": ..., "text_encoder": ...}``), handed to this invocation
        by ``\\use_modules`` in a config script; empty otherwise. Options that give a
        sub-model explicitly (``--vae`` ...) take precedence over them."""

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
