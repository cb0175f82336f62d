"""Spec records: what a plugin contributes, as plain frozen data.

A contribution hook returns (or yields) spec records. A spec names the feature,
says in one line what it does and points at the code that implements it with a
``target``. The kernel imports the target only when the feature is used or its
detailed help is requested, so listing plugins stays fast.

``target`` is one of:

* ``"package.module:Attribute"`` - an absolute import path;
* ``".module:Attribute"`` - relative to the package of the registration module
  (handy for plugins loaded from a folder, whose package name is not fixed);
* ``":Attribute"`` - an attribute of the registration module itself;
* the object itself (a class or function), for plugins that are light anyway.

The kernel fills in :attr:`PluginSpec.provider` (which plugin, distribution and
version contributed the spec); plugins leave it unset.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, ClassVar

from .args import ArgSpec
from .errors import PluginSpecError
from .options import OptionSpec

__all__ = [
    "SPEC_CLASSES",
    "ArgumentedSpec",
    "Category",
    "DirectiveSpec",
    "ImageProcessorSpec",
    "JobExecutorSpec",
    "LatentsProcessorSpec",
    "ModelTypeSpec",
    "PipelineExtensionSpec",
    "PluginSpec",
    "PromptUpscalerSpec",
    "PromptWeighterSpec",
    "Provider",
    "QuantizerSpec",
    "SubCommandSpec",
    "SubModelSpec",
    "TemplateFunctionSpec",
]


class Category(enum.Enum):
    """The kinds of things a plugin can contribute, each with its own hook and registry."""

    MODEL_TYPE = ("model type", "model types", "dgenerate_model_types")
    IMAGE_PROCESSOR = ("image processor", "image processors", "dgenerate_image_processors")
    LATENTS_PROCESSOR = (
        "latents processor", "latents processors", "dgenerate_latents_processors")
    PROMPT_WEIGHTER = ("prompt weighter", "prompt weighters", "dgenerate_prompt_weighters")
    PROMPT_UPSCALER = ("prompt upscaler", "prompt upscalers", "dgenerate_prompt_upscalers")
    QUANTIZER = ("quantizer", "quantizers", "dgenerate_quantizers")
    DIRECTIVE = ("config directive", "config directives", "dgenerate_directives")
    TEMPLATE_FUNCTION = (
        "template function", "template functions", "dgenerate_template_functions")
    SUB_COMMAND = ("sub-command", "sub-commands", "dgenerate_sub_commands")
    PIPELINE_EXTENSION = (
        "pipeline extension", "pipeline extensions", "dgenerate_pipeline_extensions")
    JOB_EXECUTOR = ("job executor", "job executors", "dgenerate_job_executors")
    SUB_MODEL = ("sub-model kind", "sub-model kinds", "dgenerate_sub_models")

    def __init__(self, singular: str, plural: str, hook: str) -> None:
        self.singular = singular
        self.plural = plural
        self.hook = hook

    @property
    def spec_class(self) -> type[PluginSpec]:
        return SPEC_CLASSES[self]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Provider:
    """Where a spec came from; filled in by the kernel."""

    plugin: str
    origin: str  # "builtin", "installed", "path" or "module"
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    location: str | None = None

    def describe(self) -> str:
        """``plugin 'image-ops' (builtin, dgenerate 0.1.0)`` - used in error messages."""
        details = [self.origin]
        if self.distribution:
            details.append(
                f"{self.distribution} {self.version}" if self.version else self.distribution)
        elif self.location:
            details.append(self.location)
        return f"plugin {self.plugin!r} ({', '.join(details)})"


# The category specs below add no fields, so they are plain subclasses: they inherit
# the dataclass behaviour (init, repr, equality, dataclasses.replace) without paying
# for generating it again at import time, which start-up time notices.

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET = re.compile(r"^(\.*[A-Za-z_][\w.]*|\.*)?:[A-Za-z_][\w.]*$")


def _fail(spec: PluginSpec, message: str) -> None:
    kind = spec.category.singular if hasattr(spec, "category") else "plugin"
    raise PluginSpecError(f"invalid {kind} spec {getattr(spec, 'name', '?')!r}: {message}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PluginSpec:
    """Fields common to every contribution.

    :param name: the name users type (lower case; ``-``, ``_`` and ``.`` allowed).
    :param summary: one line for listings.
    :param target: the implementation, see the module documentation.
    :param aliases: other names for the same thing.
    :param help: the detailed description; defaults to the target's docstring.
    :param hidden: left out of listings (still usable by name).
    :param requires: modules the implementation needs; listings mark the spec
        unavailable when one is missing, without importing anything.
    """

    category: ClassVar[Category]
    name_pattern: ClassVar[re.Pattern[str]] = _NAME

    name: str
    summary: str
    target: Any
    aliases: tuple[str, ...] = ()
    help: str | None = None
    hidden: bool = False
    requires: tuple[str, ...] = ()
    provider: Provider | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name_pattern.match(self.name):
            _fail(self, f"the name must match {self.name_pattern.pattern}")
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "requires", tuple(self.requires))
        for alias in self.aliases:
            if not isinstance(alias, str) or not self.name_pattern.match(alias):
                _fail(self, f"alias {alias!r} must match {self.name_pattern.pattern}")
        if self.name in self.aliases:
            _fail(self, "an alias repeats the name")
        if not isinstance(self.summary, str) or not self.summary.strip():
            _fail(self, "a one-line summary is required")
        if "\n" in self.summary.strip():
            _fail(self, "the summary must be one line (put details in 'help')")
        if self.target is None:
            _fail(self, "a target is required")
        if isinstance(self.target, str) and not _TARGET.match(self.target):
            _fail(self, f"target {self.target!r} is not of the form 'package.module:Attribute'")
        for module in self.requires:
            if not isinstance(module, str) or not module:
                _fail(self, f"requires entry {module!r} is not a module name")
        if self.help is not None and not isinstance(self.help, str):
            _fail(self, "help must be a string")

    @property
    def names(self) -> tuple[str, ...]:
        """The name followed by the aliases."""
        return (self.name, *self.aliases)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArgumentedSpec(PluginSpec):
    """A spec for something configured by URI arguments (``name;key=value``).

    :param args: the accepted arguments; ``None`` means "read them from the
        target's signature" (see :func:`~dgenerate.plugin_api.args.arguments_of`).
    """

    args: tuple[ArgSpec, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.args is not None:
            object.__setattr__(self, "args", tuple(self.args))
            if not all(isinstance(arg, ArgSpec) for arg in self.args):
                _fail(self, "args must be ArgSpec records")
            names = [arg.name for arg in self.args]
            if len(set(names)) != len(names):
                _fail(self, "args declares a name twice")


def _options(spec: PluginSpec, options: Any) -> tuple[OptionSpec, ...]:
    options = tuple(options)
    if not all(isinstance(option, OptionSpec) for option in options):
        _fail(spec, "options must be OptionSpec records")
    return options


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelTypeSpec(PluginSpec):
    """A ``--model-type`` value: a family of diffusion models.

    :param options: the options this model type owns (an option whose
        ``model_types`` is empty applies to this model type only).
    :param capabilities: modes, image-seed inputs, sub-model slots and default size
        (a :class:`~dgenerate.plugin_api.interfaces.model_type.Capabilities`); the
        kernel checks requests against it before loading anything.
    :param default: used when ``--model-type`` is not given (one model type at most).
    """

    category = Category.MODEL_TYPE

    options: tuple[OptionSpec, ...] = ()
    capabilities: Any = None
    default: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        options = tuple(
            option if option.model_types else dataclasses.replace(option, model_types=self.names)
            for option in _options(self, self.options))
        object.__setattr__(self, "options", options)
        if self.capabilities is None:
            from .interfaces.model_type import Capabilities

            object.__setattr__(self, "capabilities", Capabilities())
        elif type(self.capabilities).__name__ != "Capabilities":
            _fail(self, "capabilities must be a Capabilities record")


class ImageProcessorSpec(ArgumentedSpec):
    """An image processor, usable in ``--*-image-processors`` options."""

    category = Category.IMAGE_PROCESSOR


class LatentsProcessorSpec(ArgumentedSpec):
    """A latents processor, usable in ``--latents-processors``, ``--img2img-latents-processors``
    and ``--latents-post-processors``; the target is a ``LatentsProcessor`` subclass."""

    category = Category.LATENTS_PROCESSOR


class PromptWeighterSpec(ArgumentedSpec):
    """A prompt weighter, selected with ``--prompt-weighter``."""

    category = Category.PROMPT_WEIGHTER


class PromptUpscalerSpec(ArgumentedSpec):
    """A prompt upscaler, usable in ``--prompt-upscaler`` and ``<upscaler: URI>``; the
    target is a ``PromptUpscaler`` subclass."""

    category = Category.PROMPT_UPSCALER


class QuantizerSpec(ArgumentedSpec):
    """A quantization backend, selected with ``--quantizer`` and ``quantizer=`` URI args."""

    category = Category.QUANTIZER


@dataclasses.dataclass(frozen=True, kw_only=True)
class DirectiveSpec(PluginSpec):
    """A config-script directive; ``name`` is written without the leading backslash.

    :param raw: the directive receives its text unparsed, with only templates
        expanded, instead of shell-parsed arguments (``\\set``, ``\\exec``).
    """

    category = Category.DIRECTIVE
    name_pattern = re.compile(r"^[a-z][a-z0-9_]*$")

    raw: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class TemplateFunctionSpec(PluginSpec):
    """A Jinja2 template function (also usable as a filter) for config scripts.

    :param needs_context: the function takes the script's
        :class:`~dgenerate.plugin_api.DirectiveContext` as its first argument
        (hidden from users), e.g. to download through the web cache.
    """

    category = Category.TEMPLATE_FUNCTION
    name_pattern = _IDENTIFIER

    needs_context: bool = False


class SubCommandSpec(PluginSpec):
    """A ``--sub-command`` name; the target is a :class:`SubCommand` subclass."""

    category = Category.SUB_COMMAND


@dataclasses.dataclass(frozen=True, kw_only=True)
class PipelineExtensionSpec(PluginSpec):
    """A pipeline extension (FreeU, DeepCache ...) switched on by its own options.

    :param options: the options that configure it; the extension acts on a job when
        one of them has a value for that job (see ``PipelineExtension.enabled``).
    :param model_types: the model types it works with; empty means every one. Its
        options apply to these unless they name their own.
    """

    category = Category.PIPELINE_EXTENSION

    options: tuple[OptionSpec, ...] = ()
    model_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "model_types", tuple(self.model_types))
        options = tuple(
            option if option.model_types or not self.model_types
            else dataclasses.replace(option, model_types=self.model_types)
            for option in _options(self, self.options))
        if not options:
            _fail(self, "a pipeline extension is switched on by options it declares")
        object.__setattr__(self, "options", options)


class JobExecutorSpec(ArgumentedSpec):
    """A job executor: runs the render jobs (locally by default) (provisional)."""

    category = Category.JOB_EXECUTOR


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubModelSpec(PluginSpec):
    """A kind of sub-model (VAE, LoRA ...) a model type can take in one of its slots.

    :param slot: the slot it fills; it serves the model types whose capabilities list
        that slot, and its options apply to those (unless an option names its own).
        The slot also names the object cache its models are kept in.
    :param options: the options that give its models (``--vae`` ...).
    :param image_input: the image-seed part its models take, one per value of its first
        option: ``"control"`` (a control image each: ``control=``, or the short form's
        images once such a kind is given) or ``"adapter"`` (a group of ``adapter:``
        images each). The kernel matches the counts and hands the prepared images to jobs
        (``Job.control_images`` / ``Job.adapter_images``).
    """

    category = Category.SUB_MODEL

    slot: str = ""
    options: tuple[OptionSpec, ...] = ()
    image_input: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.slot, str) or not _IDENTIFIER.match(self.slot):
            _fail(self, "a slot name (an identifier such as 'vae') is required")
        options = _options(self, self.options)
        if not options:
            _fail(self, "a sub-model kind is given by options it declares")
        object.__setattr__(self, "options", options)
        if self.image_input not in (None, "control", "adapter"):
            _fail(self, f"image_input {self.image_input!r} is not 'control' or 'adapter'")


SPEC_CLASSES: dict[Category, type[PluginSpec]] = {
    Category.MODEL_TYPE: ModelTypeSpec,
    Category.IMAGE_PROCESSOR: ImageProcessorSpec,
    Category.LATENTS_PROCESSOR: LatentsProcessorSpec,
    Category.PROMPT_WEIGHTER: PromptWeighterSpec,
    Category.PROMPT_UPSCALER: PromptUpscalerSpec,
    Category.QUANTIZER: QuantizerSpec,
    Category.DIRECTIVE: DirectiveSpec,
    Category.TEMPLATE_FUNCTION: TemplateFunctionSpec,
    Category.SUB_COMMAND: SubCommandSpec,
    Category.PIPELINE_EXTENSION: PipelineExtensionSpec,
    Category.JOB_EXECUTOR: JobExecutorSpec,
    Category.SUB_MODEL: SubModelSpec,
}
