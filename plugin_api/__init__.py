"""The dgenerate plugin API: the only module plugin authors import.

A plugin is a light *registration module* with ``@hookimpl`` functions that
return spec records; the heavy implementation lives in the module each spec's
``target`` names. See ``docs/plugins/`` for the author guide and
:mod:`dgenerate.plugin_api.hookspecs` for every hook.

Nothing here imports the kernel, torch or diffusers.
"""

from .args import REQUIRED, Arg, ArgSpec, arguments_of, format_default, format_type
from .context import OptionRegistrar, PluginContext
from .errors import (
    DgenerateError,
    PluginArgumentError,
    PluginConflictError,
    PluginError,
    PluginLoadError,
    PluginSpecError,
    ScriptExit,
    SkipPlugin,
    UnknownPluginError,
    UriSyntaxError,
    ValueSyntaxError,
    WriteError,
)
from .events import JobFinished, JobStarted, RenderEvent, RenderFinished, RenderStarted
from .files import atomic_new_file, atomic_output
from .interfaces.directive import Directive, DirectiveContext
from .interfaces.image_processor import ImageProcessor
from .interfaces.job_executor import JobExecutor
from .interfaces.latents_processor import LatentsProcessor
from .interfaces.model_type import IMAGE_SEED_INPUTS, Capabilities, ModelType, RenderOutput
from .interfaces.pipeline_extension import PipelineExtension
from .interfaces.prompt_upscaler import PromptUpscaler
from .interfaces.prompt_weighter import PromptWeighter
from .interfaces.quantizer import Quantizer
from .interfaces.sub_command import SubCommand
from .interfaces.sub_model import LoadTarget, SubModel
from .markers import hookimpl, hookspec
from .options import NAME_POSITIONS, OptionSpec, option_name
from .render import Job, Mode, ModelSource, ObjectCache, RenderContext, RenderRequest
from .specs import (
    Category,
    DirectiveSpec,
    ImageProcessorSpec,
    JobExecutorSpec,
    LatentsProcessorSpec,
    ModelTypeSpec,
    PipelineExtensionSpec,
    PluginSpec,
    PromptUpscalerSpec,
    PromptWeighterSpec,
    Provider,
    QuantizerSpec,
    SubCommandSpec,
    SubModelSpec,
    TemplateFunctionSpec,
)
from .values import Padding, Prompt, Size
from .version import API_VERSION, API_VERSION_STRING

__all__ = [
    "API_VERSION",
    "API_VERSION_STRING",
    "IMAGE_SEED_INPUTS",
    "NAME_POSITIONS",
    "REQUIRED",
    "Arg",
    "ArgSpec",
    "Capabilities",
    "Category",
    "DgenerateError",
    "Directive",
    "DirectiveContext",
    "DirectiveSpec",
    "ImageProcessor",
    "ImageProcessorSpec",
    "Job",
    "JobExecutor",
    "JobExecutorSpec",
    "JobFinished",
    "JobStarted",
    "LatentsProcessor",
    "LatentsProcessorSpec",
    "LoadTarget",
    "Mode",
    "ModelSource",
    "ModelType",
    "ModelTypeSpec",
    "ObjectCache",
    "OptionRegistrar",
    "OptionSpec",
    "Padding",
    "PipelineExtension",
    "PipelineExtensionSpec",
    "PluginArgumentError",
    "PluginConflictError",
    "PluginContext",
    "PluginError",
    "PluginLoadError",
    "PluginSpec",
    "PluginSpecError",
    "Prompt",
    "PromptUpscaler",
    "PromptUpscalerSpec",
    "PromptWeighter",
    "PromptWeighterSpec",
    "Provider",
    "Quantizer",
    "QuantizerSpec",
    "RenderContext",
    "RenderEvent",
    "RenderFinished",
    "RenderOutput",
    "RenderRequest",
    "RenderStarted",
    "ScriptExit",
    "Size",
    "SkipPlugin",
    "SubCommand",
    "SubCommandSpec",
    "SubModel",
    "SubModelSpec",
    "TemplateFunctionSpec",
    "UnknownPluginError",
    "UriSyntaxError",
    "ValueSyntaxError",
    "WriteError",
    "arguments_of",
    "atomic_new_file",
    "atomic_output",
    "format_default",
    "format_type",
    "hookimpl",
    "hookspec",
    "option_name",
]
