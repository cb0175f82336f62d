"""One job through a model type's phases, with the prompt weighter and pipeline extensions.

load (cached under the model type's key) -> call arguments -> prompt weighter ->
pipeline extensions apply -> call -> extensions remove (always) -> weighter cleanup.
A model type that renders in one step (overrides ``render``) is called as it is.
"""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, PluginError
from dgenerate.plugin_api.interfaces.model_type import ModelType, RenderOutput
from dgenerate.plugin_api.render import Job
from dgenerate.plugin_api.specs import Category, PluginSpec

from ..plugins.context import KernelContext
from ..plugins.targets import blamed
from ..uri import parse_uri
from .plan import RenderPlan

__all__ = ["JobRunner"]


class JobRunner:
    """Runs the jobs of one invocation on its model type."""

    def __init__(self, context: KernelContext, plan: RenderPlan, model_type: ModelType,
                 spec: PluginSpec) -> None:
        self.context = context
        self.model_type = model_type
        self.spec = spec
        name = spec.name
        request = plan.request
        extensions = [extension for extension in
                      context.manager.registry(Category.PIPELINE_EXTENSION).specs(True)
                      if (not extension.model_types or name in extension.model_types)
                      and any(option.name in plan.given for option in extension.options)]
        phased = model_type.renders_in_phases()
        if not phased and (request.prompt_weighter or extensions):
            asked = "--prompt-weighter" if request.prompt_weighter else (
                extensions[0].options[0].flag)
            raise DgenerateError(f"{asked} cannot act on --model-type {name}: it renders in "
                                 "one step, without the phases prompt weighters and pipeline "
                                 "extensions work between")
        if phased and type(model_type).call is ModelType.call:
            raise PluginError(f"{spec.provider.describe()}: model type {name!r} implements "
                              "neither render() nor the phases (load_key, load, "
                              "call_arguments, call)")
        self.request = request
        self.weighters: dict[str, tuple[PluginSpec, Any]] = {}
        if request.prompt_weighter:  # created now, so that a mistake shows before loading
            self._weighter(request.prompt_weighter)
        self.extensions = [(extension, context.create(Category.PIPELINE_EXTENSION,
                                                      extension.name))
                           for extension in extensions]
        for extension, instance in self.extensions:
            instance.option_names = tuple(option.name for option in extension.options)

    def _weighter(self, uri: str) -> tuple[PluginSpec, Any]:
        """The weighter of ``uri`` (``--prompt-weighter`` or a prompt's), created once."""
        if uri not in self.weighters:
            self.weighters[uri] = (
                self.context.manager.registry(Category.PROMPT_WEIGHTER).get(parse_uri(uri).name),
                self.context.create(Category.PROMPT_WEIGHTER, uri, model_type=self.spec.name,
                                    device=self.request.source.device))
        return self.weighters[uri]

    def run(self, job: Job) -> RenderOutput:
        model_type = self.model_type
        if job.prompt_weighter and not model_type.renders_in_phases():
            raise DgenerateError(f"<weighter: {job.prompt_weighter}> cannot act on --model-type "
                                 f"{self.spec.name}: it renders in one step")
        if not model_type.renders_in_phases():
            with blamed(self.spec):
                return model_type.render(job)
        with blamed(self.spec, "failed to load"):
            pipeline = self.context.cache("pipeline").get_or_create(
                model_type.load_key(job), lambda: model_type.load(job),
                size=model_type.load_size(job))
        self.context.sharing.loaded(pipeline)  # the main pipeline, for \save_modules
        with blamed(self.spec):
            arguments = model_type.call_arguments(job, pipeline)
        applied: list[tuple[PluginSpec, Any]] = []
        weighter_spec, weighter = self._weighter(job.prompt_weighter) if (
            job.prompt_weighter) else (None, None)
        try:
            if weighter is not None:
                with blamed(weighter_spec):
                    arguments = weighter.translate(pipeline, arguments)
            for extension, instance in self.extensions:
                with blamed(extension):
                    if instance.enabled(job):
                        applied.append((extension, instance))
                        arguments = instance.apply(pipeline, arguments, job)
            with blamed(self.spec):
                return model_type.call(job, pipeline, arguments)
        finally:
            for extension, instance in reversed(applied):
                with blamed(extension, "failed to remove itself"):
                    instance.remove(pipeline)
            if weighter is not None:
                with blamed(weighter_spec, "failed to clean up"):
                    weighter.cleanup()
