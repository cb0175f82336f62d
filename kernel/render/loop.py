"""The render loop: jobs in, files out.

For every job of the grid (see :mod:`.grid`) the loop prepares the input
images, asks the model-type plugin to render, runs the post-processors, and
writes the images (as separate files or a grid) with their configs and
metadata. Events go to plugins as it goes; the result lists what was written.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, PluginError
from dgenerate.plugin_api.events import JobFinished, JobStarted, RenderFinished, RenderStarted
from dgenerate.plugin_api.interfaces.model_type import ModelType, RenderOutput
from dgenerate.plugin_api.render import Job, Mode
from dgenerate.plugin_api.specs import Category

from ..plugins.context import KernelContext
from ..plugins.targets import resolve_target
from . import configs
from .collage import make_grid
from .grid import JobTemplate, count_jobs, expand_jobs
from .inputs import SeedInputs, load_image_seed
from .naming import base_name, unique_path
from .plan import RenderPlan, SchedulerHelp
from .writer import write_image, write_text

__all__ = ["RenderResult", "WrittenImage", "render"]


@dataclasses.dataclass(frozen=True)
class WrittenImage:
    path: str
    job_number: int
    seed: int
    config: str | None = None


@dataclasses.dataclass
class RenderResult:
    """What one invocation did: the plan, and every file written, in order."""

    plan: RenderPlan
    images: list[WrittenImage] = dataclasses.field(default_factory=list)
    jobs: int = 0

    @property
    def files(self) -> list[str]:
        paths = []
        for image in self.images:
            paths.append(image.path)
            if image.config:
                paths.append(image.config)
        return paths


def _emit(context: KernelContext, event: Any) -> None:
    try:
        context.manager.hooks.hook.dgenerate_render_event(event=event)
    except DgenerateError:
        raise
    except Exception as error:
        raise PluginError(
            f"a plugin failed handling {type(event).__name__}: {type(error).__name__}: {error}"
        ) from error


def create_model_type(context: KernelContext, plan: RenderPlan) -> ModelType:
    source = plan.request.source
    spec = context.manager.registry(Category.MODEL_TYPE).get(source.model_type)
    target = resolve_target(spec)
    if not (inspect.isclass(target) and issubclass(target, ModelType)):
        raise PluginError(f"model type {spec.name!r} has the target {spec.target!r}, which is "
                          "not a ModelType subclass")
    try:
        return target(context=context, source=dataclasses.replace(source, model_type=spec.name))
    except DgenerateError:
        raise
    except Exception as error:
        raise PluginError(f"model type {spec.name!r} could not start: "
                          f"{type(error).__name__}: {error}") from error


class _Processors:
    """Processor objects of one invocation, created once from their URIs."""

    def __init__(self, context: KernelContext, plan: RenderPlan, device: str) -> None:
        def create(uri: str) -> Any:
            return context.create(Category.IMAGE_PROCESSOR, uri, device=device)

        self.seed = [[create(uri) for uri in chain] for chain in plan.seed_processors]
        self.mask = [[create(uri) for uri in chain] for chain in plan.mask_processors]
        self.post = [create(uri) for uri in plan.post_processors]


def _batch(plan: RenderPlan, inputs: SeedInputs | None) -> tuple[list[Any], list[Any], int]:
    """Input images repeated to one per output image, and the batch size."""
    batch_size = plan.request.batch_size
    if inputs is None:
        return [], [], batch_size
    count = len(inputs.images)
    if batch_size == 1:
        batch_size = count
    elif batch_size % count:
        raise DgenerateError(f"--batch-size {plan.request.batch_size} must be a multiple of the "
                             f"{count} images given to images:")
    repeat = batch_size // count
    images = [image for image in inputs.images for _ in range(repeat)]
    masks = []
    if inputs.masks:
        per_image = inputs.masks if len(inputs.masks) == count else inputs.masks * count
        masks = [mask for mask in per_image for _ in range(repeat)]
    return images, masks, batch_size


def _job(template: JobTemplate, inputs: SeedInputs | None, plan: RenderPlan,
         model_type: ModelType) -> Job:
    images, masks, batch_size = _batch(plan, inputs)
    if inputs is None:
        size = plan.request.output_size or model_type.default_size()
        mode = Mode.TXT2IMG
    else:
        size = inputs.size
        mode = Mode.INPAINT if masks else Mode.IMG2IMG
    return Job(
        number=template.number, mode=mode, prompt=template.prompt,
        seeds=tuple(template.seed + index for index in range(batch_size)),
        inference_steps=template.inference_steps, guidance_scale=template.guidance_scale,
        width=size.width, height=size.height, guidance_rescale=template.guidance_rescale,
        strength=template.strength, clip_skip=template.clip_skip,
        scheduler=template.scheduler, sigmas=template.sigmas,
        images=tuple(images), masks=tuple(masks))


class _Writer:
    def __init__(self, plan: RenderPlan, model_name: str) -> None:
        self.plan = plan
        self.output = plan.output
        self.model_name = model_name
        self.taken: set[str] = set()

    def _path(self, stem: str, extension: str) -> str:
        path = unique_path(self.output.path, stem, extension, overwrite=self.output.overwrite,
                           taken=self.taken)
        self.taken.add(path)
        return path

    def names(self, template: JobTemplate, batch_size: int) -> list[str]:
        stem = base_name(template, prefix=self.output.prefix)
        if batch_size == 1 or self.output.grid is not None:
            return [stem]
        return [f"{stem}_image_{index}" for index in range(1, batch_size + 1)]

    def write(self, template: JobTemplate, job: Job, output: RenderOutput) -> list[WrittenImage]:
        os.makedirs(self.output.path, exist_ok=True)
        images = list(output.images)
        if self.output.grid is not None and len(images) > 1:
            images = [make_grid(images, self.output.grid.width, self.output.grid.height)]
        config = configs.job_config(self.plan, template, job)
        written = []
        for index, (stem, image) in enumerate(
                zip(self.names(template, len(images)), images, strict=True)):
            seed = job.seeds[index] if len(images) > 1 else template.seed
            metadata = None
            if self.output.metadata:
                metadata = {"DgenerateConfig": config}
            elif self.output.auto1111_metadata:
                metadata = {"parameters": configs.auto1111_parameters(
                    template, job, seed, output.info, self.model_name)}
            path = self._path(stem, self.output.image_format)
            write_image(image, path, self.output.image_format, metadata=metadata)
            config_path = None
            if self.output.configs:
                config_path = os.path.splitext(path)[0] + ".dgen"
                write_text(config, config_path)
            written.append(WrittenImage(path, template.number, seed, config_path))
        return written


def _dry_run(plan: RenderPlan) -> RenderResult:
    writer = _Writer(plan, model_name="")
    result = RenderResult(plan)
    batch = plan.request.batch_size
    for template in expand_jobs(plan):
        count = batch
        if template.image_seed is not None and template.image_seed.batched and batch == 1:
            count = len(template.image_seed.images)
        names = writer.names(template, count)
        paths = [writer._path(name, plan.output.image_format) for name in names]
        details = [f"prompt={str(template.prompt)!r}", f"seed={template.seed}",
                   f"steps={template.inference_steps}", f"guidance={template.guidance_scale}"]
        for label, value in (("rescale", template.guidance_rescale),
                             ("strength", template.strength), ("clip-skip", template.clip_skip),
                             ("scheduler", template.scheduler), ("sigmas", template.sigmas)):
            if value is not None:
                details.append(f"{label}={value}")
        if template.image_seed is not None:
            details.append(f"image-seed={template.image_seed.text!r}")
        print(f"job {template.number}: {' '.join(details)}")
        for path in paths:
            print(f"    {path}")
        result.jobs += 1
    return result


def _scheduler_help(model_type: ModelType, plan: RenderPlan) -> RenderResult:
    names = model_type.scheduler_names()
    print(f'Compatible schedulers for "{plan.request.source.path}" are:\n')
    if plan.scheduler_help == SchedulerHelp.NAMES:
        print("\n".join(f'    "{name}"' for name in names))
    else:
        for name in names:
            print(f"{name}:")
            for argument in model_type.scheduler_arguments(name):
                print(f"    {argument.describe()}")
            print()
    return RenderResult(plan)


def render(context: KernelContext, plan: RenderPlan) -> RenderResult:
    """Render everything ``plan`` describes; return what was written."""
    context.manager.registry(Category.MODEL_TYPE).get(plan.request.source.model_type)
    if plan.dry_run:
        return _dry_run(plan)
    model_type = create_model_type(context, plan)
    model_type.check(plan.request)
    if plan.scheduler_help:
        return _scheduler_help(model_type, plan)
    total = count_jobs(plan)
    _emit(context, RenderStarted(request=plan.request, job_count=total))
    processors = _Processors(context, plan, device=plan.request.source.device)
    writer = _Writer(plan, model_name=os.path.basename(
        plan.request.source.path.rstrip("/\\")) or plan.request.source.path)
    result = RenderResult(plan)
    inputs_by_seed: dict[int, SeedInputs] = {}
    progress = context.progress(total, "jobs")
    try:
        for template in expand_jobs(plan):
            inputs = None
            if template.image_seed is not None:
                index = template.image_seed_index
                if index not in inputs_by_seed:
                    inputs_by_seed.clear()  # one image seed's inputs in memory at a time
                    inputs_by_seed[index] = load_image_seed(
                        template.image_seed, output_size=plan.request.output_size,
                        no_aspect=plan.request.no_aspect, fetch=context.fetch,
                        seed_processors=processors.seed, mask_processors=processors.mask)
                inputs = inputs_by_seed[index]
            job = _job(template, inputs, plan, model_type)
            context.debug(f"job {job.number}/{total}: {job.mode} {job.width}x{job.height} "
                          f"seeds={list(job.seeds)}")
            _emit(context, JobStarted(job=job))
            output = model_type.render(job)
            if len(output.images) != job.batch_size:
                raise PluginError(
                    f"model type {plan.request.source.model_type!r} returned "
                    f"{len(output.images)} images for a batch of {job.batch_size}")
            if processors.post:
                processed = []
                for image in output.images:
                    for processor in processors.post:
                        image = processor(image)
                    processed.append(image)
                output = RenderOutput(processed, output.info)
            written = writer.write(template, job, output)
            result.images.extend(written)
            result.jobs += 1
            for item in written:
                print(f"wrote {item.path}")
            _emit(context, JobFinished(job=job, files=tuple(
                path for item in written for path in (item.path, item.config) if path),
                info=dict(output.info)))
            progress.update(1)
    finally:
        progress.close()
    _emit(context, RenderFinished(request=plan.request, files=tuple(result.files)))
    return result
