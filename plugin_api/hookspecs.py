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

The docs page ``docs/plugins/hooks.md`` is generated from this module. Hooks
marked *provisional, not called yet* belong to features that are still to come:
a plugin may implement them, but nothing calls them, and the page leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterable

from .context import OptionRegistrar, PluginContext
from .events import RenderEvent
from .markers import hookspec
from .options import OptionSpec
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
    SubModelSpec,
    TemplateFunctionSpec,
)


def _provisional(function):
    """Mark a hook that nothing calls yet (left out of the hook reference)."""
    function.dgenerate_provisional = True
    return function


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
    """Contribute latents processors (``--latents-processors``,
    ``--img2img-latents-processors``, ``--latents-post-processors``).

    The target is a :class:`~dgenerate.plugin_api.LatentsProcessor` subclass; the
    diffusion toolkit creates it from its URI and calls it with a batch of latents and
    the pipeline they belong to.

    Example::

        @hookimpl
        def dgenerate_latents_processors():
            yield LatentsProcessorSpec(name="scale", summary="Multiply latents by a factor.",
                                       target="my_plugin.scale:Scale")
    """


@hookspec
def dgenerate_prompt_weighters() -> Iterable[PromptWeighterSpec]:
    """Contribute prompt weighters (``--prompt-weighter``).

    The target is a :class:`~dgenerate.plugin_api.PromptWeighter` subclass. For each
    job the kernel calls its ``translate(pipeline, call_args)`` once the model type
    has built the call arguments (before pipeline extensions apply), and ``cleanup()``
    after the call, also a failed one. A model type that renders in one step cannot
    use a weighter: asking for one is an error.

    Example::

        @hookimpl
        def dgenerate_prompt_weighters():
            yield PromptWeighterSpec(name="plain", summary="Pass prompts through unchanged.",
                                     target="my_plugin.plain:Plain")
    """


@hookspec
def dgenerate_prompt_upscalers() -> Iterable[PromptUpscalerSpec]:
    """Contribute prompt upscalers (``--prompt-upscaler``, ``<upscaler: URI>``).

    The target is a :class:`~dgenerate.plugin_api.PromptUpscaler` subclass (or a
    :class:`~dgenerate.plugin_api.prompts.PartwiseUpscaler`, which handles the
    ``part`` argument). Before the jobs of an invocation are built, the kernel runs
    every prompt through its chain and renders each prompt returned.

    Example::

        @hookimpl
        def dgenerate_prompt_upscalers():
            yield PromptUpscalerSpec(name="shout", summary="Upper-case every prompt.",
                                     target="my_plugin.shout:Shout")
    """


@hookspec
def dgenerate_quantizers() -> Iterable[QuantizerSpec]:
    """Contribute quantization backends (``--quantizer``, ``quantizer=`` URI arguments).

    The target is a :class:`~dgenerate.plugin_api.Quantizer` subclass. While a
    pipeline loads, the diffusion toolkit asks it for a diffusers configuration (UNet,
    transformer, ControlNet ...) and a transformers one (text encoders); ``None``
    leaves that kind of component as it is.

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
    """Contribute pipeline extensions (FreeU, DeepCache ...).

    The spec declares the options that switch the extension on (``options``) and the
    model types it works with. The target is a
    :class:`~dgenerate.plugin_api.PipelineExtension` subclass; the kernel applies it
    to the pipeline of every job that has a value for one of its options, between
    building the call arguments and the call, and removes it afterwards.

    ``plugins_builtin/pipeline_extensions/freeu/`` (``--freeu-params``) is a complete
    example.

    Example::

        @hookimpl
        def dgenerate_pipeline_extensions():
            yield PipelineExtensionSpec(
                name="my-eta", summary="Pass a DDIM eta to the pipeline call.",
                target="my_plugin.eta:Eta", model_types=("sd", "sdxl"),
                options=(OptionSpec(flags=("--my-eta-values",), type=float, axis=True,
                                    token="eta", help="eta values to try."),))
    """


@hookspec
def dgenerate_sub_models() -> Iterable[SubModelSpec]:
    """Contribute sub-model kinds (VAE, LoRA ...): options that give a model type's slot
    its models.

    The spec names the slot; its options apply to every model type whose capabilities
    list that slot. The target is a :class:`~dgenerate.plugin_api.SubModel` subclass;
    the diffusion toolkit asks it for pipeline components and attaches it after loading.

    Example::

        @hookimpl
        def dgenerate_sub_models():
            yield SubModelSpec(name="vae", slot="vae", summary="Another VAE.",
                               target="my_plugin.vae:Vae",
                               options=(OptionSpec(flags=("--vae",), metavar="VAE_URI",
                                                   help="The VAE to decode with."),))
    """


@hookspec
def dgenerate_render_options() -> Iterable[OptionSpec]:
    """Contribute options of the main command that are not tied to one model type
    or extension spec (declare those in the spec's ``options``).

    Each :class:`~dgenerate.plugin_api.OptionSpec` says which model types it applies
    to; the kernel parses and checks it, expands it when it is an axis, names files
    and writes configs with it, and hands its value to every job in ``job.values``.

    Example::

        @hookimpl
        def dgenerate_render_options():
            yield OptionSpec(flags=("--my-strengths",), type=float, axis=True, token="ms",
                             model_types=("my-family",), help="Strengths to try.")
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
    """Declare command-line options of the main ``dgenerate`` command, argparse style.

    Prefer :class:`~dgenerate.plugin_api.OptionSpec` declarations
    (:func:`dgenerate_render_options` or a spec's ``options``): they give grid axes,
    file-name tokens, reproducing configs and model-type checks. Options added here
    appear in ``--help``, their parsed values reach model types in ``job.values``
    (by dest, as given), and each becomes the template variable ``last_<dest>``.

    Example::

        @hookimpl
        def dgenerate_add_options(options):
            options.add_option("--greeting", metavar="TEXT",
                               help="Printed before the first render.")
    """
