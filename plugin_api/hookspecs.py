"""Hook specifications: every way a plugin can extend dgenerate.

A plugin is a *registration module* (the module its entry point names, or the
file/folder given to ``--plugin-modules``) holding functions decorated with
``@hookimpl`` whose names are hook names below. A plugin implements only the
hooks it needs, and may leave out hook arguments it does not use.

There are two kinds of hooks:

*Contribution hooks* take no arguments and return (or yield) spec records of
one category. They must be fast and must not import heavy libraries (torch,
diffusers, transformers, cv2, ultralytics): they run whenever dgenerate lists
or looks up plugins. Put heavy imports in the module the spec's ``target``
names; it is imported only when the feature is used.

*Behaviour hooks* let a plugin act on the kernel: initialise itself
(:func:`dgenerate_configure`) or add command-line options
(:func:`dgenerate_add_options`).

The docs page ``docs/plugins/hooks.md`` is generated from this module.
"""

from __future__ import annotations

from collections.abc import Iterable

from .context import OptionRegistrar, PluginContext
from .events import RenderEvent
from .markers import hookspec
from .specs import (
    DirectiveSpec,
    ImageProcessorSpec,
    JobExecutorSpec,
    LatentsProcessorSpec,
    ModelTypeSpec,
    PipelineExtensionSpec,
    PromptUpscalerSpec,
    PromptWeighterSpec,
    QuantizerSpec,
    SubCommandSpec,
    TemplateFunctionSpec,
)

# --------------------------------------------------------------- contributions


@hookspec
def dgenerate_model_types() -> Iterable[ModelTypeSpec]:
    """Contribute ``--model-type`` values (provisional: see ``ModelType``).

    Example::

        @hookimpl
        def dgenerate_model_types():
            yield ModelTypeSpec(name="sd", summary="Stable Diffusion 1.x and 2.x",
                                target="my_plugin.sd:StableDiffusion")
    """


@hookspec
def dgenerate_image_processors() -> Iterable[ImageProcessorSpec]:
    """Contribute image processors (``--seed-image-processors``, ``--post-processors`` ...).

    The target is an :class:`~dgenerate.plugin_api.ImageProcessor` subclass; its
    constructor's keyword arguments are the URI arguments.

    Example::

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="sepia", summary="Tint the image brown.",
                                     target="my_plugin.sepia:Sepia")
    """


@hookspec
def dgenerate_latents_processors() -> Iterable[LatentsProcessorSpec]:
    """Contribute latents processors (``--latents-processors`` and friends).

    The target is a :class:`~dgenerate.plugin_api.LatentsProcessor` subclass.

    Example::

        @hookimpl
        def dgenerate_latents_processors():
            yield LatentsProcessorSpec(name="scale", summary="Multiply latents by a factor.",
                                       target="my_plugin.scale:Scale")
    """


@hookspec
def dgenerate_prompt_weighters() -> Iterable[PromptWeighterSpec]:
    """Contribute prompt weighters (``--prompt-weighter``).

    The target is a :class:`~dgenerate.plugin_api.PromptWeighter` subclass.

    Example::

        @hookimpl
        def dgenerate_prompt_weighters():
            yield PromptWeighterSpec(name="plain", summary="Pass prompts through unchanged.",
                                     target="my_plugin.plain:Plain")
    """


@hookspec
def dgenerate_prompt_upscalers() -> Iterable[PromptUpscalerSpec]:
    """Contribute prompt upscalers (``--prompt-upscaler``).

    The target is a :class:`~dgenerate.plugin_api.PromptUpscaler` subclass.

    Example::

        @hookimpl
        def dgenerate_prompt_upscalers():
            yield PromptUpscalerSpec(name="shout", summary="Upper-case every prompt.",
                                     target="my_plugin.shout:Shout")
    """


@hookspec
def dgenerate_quantizers() -> Iterable[QuantizerSpec]:
    """Contribute quantization backends (``--quantizer``, ``quantizer=`` URI arguments).

    The target is a :class:`~dgenerate.plugin_api.Quantizer` subclass.

    Example::

        @hookimpl
        def dgenerate_quantizers():
            yield QuantizerSpec(name="bnb", aliases=("bitsandbytes",),
                                summary="bitsandbytes 8 and 4 bit quantization.",
                                target="my_plugin.bnb:BitsAndBytes")
    """


@hookspec
def dgenerate_directives() -> Iterable[DirectiveSpec]:
    """Contribute config-script directives (``\\name args...``).

    The target is a callable ``(context, args) -> int | None``, see
    :class:`~dgenerate.plugin_api.Directive`. The help shown by
    ``--directives-help NAME`` is ``help`` or the target's docstring.

    Example::

        @hookimpl
        def dgenerate_directives():
            yield DirectiveSpec(name="hello", summary="Print a greeting.",
                                target="my_plugin.hello:hello")
    """


@hookspec
def dgenerate_template_functions() -> Iterable[TemplateFunctionSpec]:
    """Contribute Jinja2 template functions for config scripts (also usable as filters).

    The target is the function; ``--functions-help`` shows its signature and docstring.

    Example::

        @hookimpl
        def dgenerate_template_functions():
            yield TemplateFunctionSpec(name="shout", summary="Upper-case a string.",
                                       target="my_plugin.text:shout")
    """


@hookspec
def dgenerate_sub_commands() -> Iterable[SubCommandSpec]:
    """Contribute sub-commands (``dgenerate --sub-command NAME ...``).

    The target is a :class:`~dgenerate.plugin_api.SubCommand` subclass.

    Example::

        @hookimpl
        def dgenerate_sub_commands():
            yield SubCommandSpec(name="count-pixels", summary="Print image sizes.",
                                 target="my_plugin.count:CountPixels")
    """


@hookspec
def dgenerate_pipeline_extensions() -> Iterable[PipelineExtensionSpec]:
    """Contribute pipeline extensions (FreeU, DeepCache ...) (provisional).

    An extension usually also implements :func:`dgenerate_add_options` to declare
    the options that switch it on. The target is a
    :class:`~dgenerate.plugin_api.PipelineExtension` subclass.

    Example::

        @hookimpl
        def dgenerate_pipeline_extensions():
            yield PipelineExtensionSpec(name="freeu", summary="FreeU feature re-weighting.",
                                        target="my_plugin.freeu:FreeU")
    """


@hookspec
def dgenerate_job_executors() -> Iterable[JobExecutorSpec]:
    """Contribute job executors that decide where render jobs run (provisional).

    The target is a :class:`~dgenerate.plugin_api.JobExecutor` subclass.

    Example::

        @hookimpl
        def dgenerate_job_executors():
            yield JobExecutorSpec(name="local", summary="Run jobs in this process.",
                                  target="my_plugin.local:LocalExecutor")
    """


# ------------------------------------------------------------------ behaviour


@hookspec(historic=True)
def dgenerate_configure(context: PluginContext) -> None:
    """Called once when the kernel has loaded its plugins.

    The call is *historic*: a plugin loaded later (by ``\\import_plugins``) gets
    it as soon as it is registered. Keep it cheap; do heavy set-up lazily.

    Example::

        @hookimpl
        def dgenerate_configure(context):
            if context.verbose:
                print("my-plugin ready")
    """


@hookspec
def dgenerate_render_event(event: RenderEvent) -> None:
    """Called for every render event: ``RenderStarted``, ``JobStarted``, ``JobFinished``
    (with the files written) and ``RenderFinished``.

    Use it to log, collect statistics or post files elsewhere. Exceptions are
    reported as errors of the plugin; keep the work quick, it runs between jobs.

    Example::

        @hookimpl
        def dgenerate_render_event(event):
            if isinstance(event, JobFinished):
                print("wrote", ", ".join(event.files))
    """


@hookspec
def dgenerate_add_options(options: OptionRegistrar) -> None:
    """Declare command-line options of the main ``dgenerate`` command.

    Called each time the kernel builds its argument parser; options appear in
    ``--help`` and their values reach the plugin through the parsed options.
    Each option also becomes the template variable ``last_<dest>`` in config
    scripts.

    Example::

        @hookimpl
        def dgenerate_add_options(options):
            options.add_option("--freeu-params", metavar="CSV_FLOAT", nargs="+",
                               help="FreeU parameters s1,s2,b1,b2.")
    """
