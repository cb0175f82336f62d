"""The render loop of one invocation: check, upscale prompts, then run the grid of jobs
through the job executor (see :mod:`.renderer` for what one job does).

A distributed executor renders jobs in worker processes: :func:`start_worker` rebuilds
the invocation there from :class:`WorkerState`, and the outcomes come back to be
reported here, in job order, as if rendered here.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.events import RenderFinished, RenderStarted
from dgenerate.plugin_api.specs import Category
from dgenerate.plugin_api.values import Prompt, check_chain_groups

from ..plugins.context import KernelContext
from ..plugins.sources import Origin
from ..plugins.targets import blamed
from .capabilities import check_capabilities
from .grid import JobTemplate, expand_jobs
from .inputs import check_image_seed
from .output import OutputWriter, check_output_folder
from .phases import JobRunner
from .plan import RenderPlan, SchedulerHelp, build_plan
from .prompting import prompt_settings, upscale_plan, upscaler_uris
from .renderer import (
    Processors,
    Renderer,
    RenderResult,
    WrittenImage,
    create_model_type,
    emit,
    image_count,
)

__all__ = ["RemoteJobs", "RenderResult", "WorkerState", "WrittenImage", "render", "start_worker"]


def _processor_uris(plan: RenderPlan) -> list[str]:
    return [uri for chain in (*plan.seed_processors, *plan.mask_processors,
                              *plan.control_processors, plan.post_processors) for uri in chain]


def check_inputs(context: KernelContext, plan: RenderPlan) -> None:
    """What can be checked before any model loads: image seeds against the model type's
    capabilities, image seed files, processor URIs and their arguments, the output folder."""
    batch_size = plan.request.batch_size
    check_capabilities(plan.image_seeds, plan.capabilities, plan.request.source.model_type)
    for seed in plan.image_seeds:
        check_image_seed(seed)
        check_chain_groups(plan.seed_processors, len(seed.images), what="--seed-image-processors")
        if seed.masks:
            check_chain_groups(plan.mask_processors, len(seed.masks),
                               what="--mask-image-processors")
        if plan.control_processors and not seed.control:
            raise DgenerateError(f"--control-image-processors: image seed {seed.text!r} has "
                                 "no control images")
        check_chain_groups(plan.control_processors, len(seed.control),
                           what="--control-image-processors")
        if seed.batched and batch_size != 1 and batch_size % len(seed.images):
            raise DgenerateError(f"--batch-size {batch_size} must be a multiple of the "
                                 f"{len(seed.images)} images given to images: in {seed.text!r}")
    for uri in _processor_uris(plan):
        context.check_uri(Category.IMAGE_PROCESSOR, uri, device=plan.request.source.device)
    request = plan.request
    weighters = {prompt_settings(prompt, plan).fields.get("prompt_weighter")
                 for prompt in request.prompts}
    for category, uri in ((Category.QUANTIZER, request.source.quantizer),
                          (Category.JOB_EXECUTOR, plan.job_executor),
                          *((Category.PROMPT_WEIGHTER, uri) for uri in
                            sorted({request.prompt_weighter, *weighters} - {None})),
                          *((Category.PROMPT_UPSCALER, uri) for uri in upscaler_uris(plan))):
        if uri is not None:
            context.check_uri(category, uri, device=request.source.device,
                              model_type=request.source.model_type)
    check_output_folder(plan.output.path, clean=not plan.dry_run)


def _dry_run(plan: RenderPlan) -> RenderResult:
    writer = OutputWriter(plan, model_name="")
    result = RenderResult(plan)
    for template in expand_jobs(plan):
        count = image_count(plan, template)
        existing = writer.existing_images(template, count)
        if existing is not None:
            print(f"job {template.number}: skipped, its files exist:")
            for path in existing:
                print(f"    {path}")
            continue
        paths = [writer.path(name, plan.output.image_format)
                 for name in writer.names(template, count)]
        details = [f"prompt={str(template.prompt)!r}", f"seed={template.seed}",
                   f"steps={template.inference_steps}", f"guidance={template.guidance_scale}"]
        for label, value in (("strength", template.strength),
                             ("scheduler", template.scheduler), ("sigmas", template.sigmas),
                             ("prompt-weighter", template.prompt_weighter),
                             *((option.spec.flag.lstrip("-"), template.values.get(
                                 option.spec.name)) for option in plan.declared)):
            if value is not None and value is not False:
                details.append(f"{label}={value}")
        if template.image_seed is not None:
            details.append(f"image-seed={template.image_seed.text!r}")
        elif plan.request.output_size or plan.capabilities.default_size:
            details.append(f"size={plan.request.output_size or plan.capabilities.default_size}")
        print(f"job {template.number}: {' '.join(details)}")
        for path in paths:
            print(f"    {path}")
        result.jobs += 1
    return result


def _renderer(context: KernelContext, plan: RenderPlan, *, help_text: bool = True
              ) -> Renderer | None:
    """The renderer of a checked plan: processors first (a mistake shows in a second), then
    the model type; None when the plan asks for a help text instead (printed)."""
    processors = Processors(context, plan, device=plan.request.source.device)
    model_type, spec = create_model_type(context, plan)
    with blamed(spec, "failed checking the request"):
        model_type.check(plan.request)
    with blamed(spec):  # --schedulers help, or a help value of the model type's own options
        text = (model_type.describe_schedulers(plan.request.source.path,
                                               arguments=plan.scheduler_help != SchedulerHelp.NAMES)
                if plan.scheduler_help else model_type.help_text(plan.request)) if (
            help_text) else None
    if text is not None:
        print(text)
        return None
    return Renderer(context, plan, model_type, processors,
                    JobRunner(context, plan, model_type, spec))


@dataclasses.dataclass(frozen=True)
class WorkerState:
    """What a worker process needs to render jobs of an invocation, in plain data (the
    standard pickle carries it): the parsed options, and what the driver decided that
    parsing again would decide differently (random seeds, upscaled prompts)."""

    options: argparse.Namespace
    plugin_dests: tuple[str, ...]
    seeds: tuple[int, ...]
    prompts: tuple[Prompt, ...]
    prompt_values: tuple[tuple[str, tuple[Prompt, ...]], ...]
    plugins: tuple[str, ...]  # loaded by path or module name, beside the entry points
    disabled: str  # DGENERATE_DISABLE_PLUGINS
    verbose: bool
    offline_mode: bool


def _worker_state(context: KernelContext, plan: RenderPlan) -> WorkerState:
    manager = context.manager
    return WorkerState(
        options=plan.options, plugin_dests=plan.plugin_dests, seeds=plan.request.seeds,
        prompts=plan.request.prompts,
        prompt_values=tuple((name, tuple(plan.request.values.get(name) or ()))
                            for name, _ in plan.option_upscalers),
        plugins=tuple(loaded.source.value for loaded in manager.plugins.values()
                      if loaded.source.origin in (Origin.PATH, Origin.MODULE)),
        disabled=",".join(sorted(manager.disabled)), verbose=context.verbose,
        offline_mode=context.offline_mode)


#: a worker process's contexts by plugin set: loaded pipelines stay cached between
#: the invocations (config script lines) it renders jobs of
_WORKER_CONTEXTS: dict[tuple[Any, ...], KernelContext] = {}


def start_worker(state: WorkerState) -> Callable[[JobTemplate], list[Any]]:
    """In a worker process: a function rendering one job of the invocation (its files
    written to the output folder, which must be shared) and returning its recorded
    outcomes, for :meth:`RemoteJobs.deliver` in the process running the executor."""
    from ..plugins.manager import PluginManager
    from .declared import declared_options

    key = (state.plugins, state.disabled, state.verbose, state.offline_mode)
    context = _WORKER_CONTEXTS.get(key)
    if context is None:
        manager = PluginManager(environ={"DGENERATE_DISABLE_PLUGINS": state.disabled})
        manager.autoload()
        manager.load_specifiers(state.plugins)
        context = KernelContext(manager, verbose=state.verbose, offline_mode=state.offline_mode)
        manager.configure(context)
        _WORKER_CONTEXTS[key] = context
    plan = build_plan(state.options, model_types=context.manager.registry(Category.MODEL_TYPE),
                      declared=declared_options(context.manager),
                      plugin_dests=state.plugin_dests, verbose=state.verbose)
    request = dataclasses.replace(plan.request, seeds=state.seeds, prompts=state.prompts,
                                  values={**plan.request.values, **dict(state.prompt_values)})
    renderer = _renderer(context, dataclasses.replace(
        plan, request=request, prompt_upscalers=(), option_upscalers=()), help_text=False)
    assert renderer is not None

    def render_job(template: JobTemplate) -> list[Any]:
        renderer.records = []
        with blamed():
            renderer.still(template)
        return renderer.records

    return render_job


class RemoteJobs:
    """What a distributed job executor needs (``run_job.remote``): :attr:`state` to send to
    each worker once, :attr:`start` (``start(state)`` in the worker gives ``render(job) ->
    report``; both pickle by reference), and :meth:`deliver` for each report here, in job
    order."""

    start = staticmethod(start_worker)

    def __init__(self, state: WorkerState, renderer: Renderer, progress: Any) -> None:
        self.state = state
        self._renderer = renderer
        self._progress = progress

    def deliver(self, job: JobTemplate, report: list[Any]) -> None:
        self._renderer.deliver(report)
        self._progress.update(1)


class _RunJob:
    """Renders one job here (the local way); ``remote`` offers the distributed way."""

    def __init__(self, renderer: Renderer, progress: Any, remote: RemoteJobs) -> None:
        self._renderer = renderer
        self._progress = progress
        self.remote = remote

    def __call__(self, template: JobTemplate) -> None:
        self._renderer.still(template)
        self._progress.update(1)


def render(context: KernelContext, plan: RenderPlan) -> RenderResult:
    """Render everything ``plan`` describes; return what was written.

    Everything that can be checked without a model is checked first (a dry run
    stops there), and processors are created before the model type loads anything,
    so a mistake is reported in a second, not after the model has loaded.
    """
    check_inputs(context, plan)
    plan = upscale_plan(context, plan)
    if plan.dry_run:
        model_type, spec = create_model_type(context, plan)
        with blamed(spec, "failed checking the request"):
            model_type.check(plan.request)
        return _dry_run(plan)
    renderer = _renderer(context, plan)
    if renderer is None:
        return RenderResult(plan)
    executor = context.create(Category.JOB_EXECUTOR, plan.job_executor)
    emit(context, RenderStarted(request=plan.request, job_count=renderer.total))
    progress = context.progress(renderer.total, "jobs")
    run_job = _RunJob(renderer, progress,
                      RemoteJobs(_worker_state(context, plan), renderer, progress))
    try:
        executor.execute(expand_jobs(plan), run_job)
    finally:
        progress.close()
    emit(context, RenderFinished(request=plan.request, files=tuple(renderer.result.files)))
    return renderer.result
