"""Rendering the jobs of one invocation: inputs in, files out.

For every job the renderer prepares the input images, asks the model-type plugin
to render, runs the post-processors, and writes the results (see :mod:`.output`).
An animated image seed turns a job into one render per frame, written as frame
images and an animation file as the frames come, so memory stays flat however long
the input. Events go to plugins as it goes; the result lists what was written. In a
worker process of a distributed job executor the outcomes are recorded instead, and
the process running the executor reports them (:meth:`Renderer.deliver`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, PluginError
from dgenerate.plugin_api.events import JobFinished, JobStarted
from dgenerate.plugin_api.interfaces.model_type import ModelType, RenderOutput
from dgenerate.plugin_api.render import Job, Mode
from dgenerate.plugin_api.specs import Category

from ..media.saving import write_text
from ..plugins.context import KernelContext
from ..plugins.targets import blamed, resolve_target
from . import configs
from .grid import JobTemplate, count_jobs
from .inputs import SeedInputs, SeedMedia, open_image_seed
from .output import OutputWriter, WrittenImage
from .phases import JobRunner
from .plan import RenderPlan

__all__ = [
    "Processors",
    "RenderResult",
    "Renderer",
    "WrittenImage",
    "create_model_type",
    "emit",
    "image_count",
]


@dataclasses.dataclass
class RenderResult:
    """What one invocation did: the plan, and every file written, in order."""

    plan: RenderPlan
    images: list[WrittenImage] = dataclasses.field(default_factory=list)
    animations: list[str] = dataclasses.field(default_factory=list)
    jobs: int = 0

    @property
    def files(self) -> list[str]:
        paths = [path for image in self.images for path in (image.path, image.config) if path]
        return [*paths, *self.animations]


def emit(context: KernelContext, event: Any) -> None:
    """Hand ``event`` to every plugin's render-event hook; a failure names the plugin."""
    manager = context.manager
    for implementation in manager.hooks.hook.dgenerate_render_event.get_hookimpls():
        try:
            implementation.function(event=event)
        except DgenerateError:
            raise
        except Exception as error:
            loaded = manager.plugins.get(implementation.plugin_name)
            who = loaded.provider.describe() if loaded else repr(implementation.plugin_name)
            raise PluginError(f"{who} failed handling {type(event).__name__}: "
                              f"{type(error).__name__}: {error}") from error


def create_model_type(context: KernelContext, plan: RenderPlan) -> tuple[ModelType, Any]:
    """The model type of the plan, created (with its spec's capabilities) and its spec."""
    source = plan.request.source
    spec = context.manager.registry(Category.MODEL_TYPE).get(source.model_type)
    target = resolve_target(spec)
    if not (inspect.isclass(target) and issubclass(target, ModelType)):
        raise PluginError(f"model type {spec.name!r} has the target {spec.target!r}, which is "
                          "not a ModelType subclass")
    with blamed(spec, "could not start"):
        model_type = target.__new__(target)
        model_type.capabilities = spec.capabilities
        model_type.__init__(context=context, source=source)
    return model_type, spec


class Processors:
    """Processor objects of one invocation, created once from their URIs."""

    def __init__(self, context: KernelContext, plan: RenderPlan, device: str) -> None:
        def create(uri: str) -> Any:
            return context.create(Category.IMAGE_PROCESSOR, uri, device=device)

        self.seed = [[create(uri) for uri in chain] for chain in plan.seed_processors]
        self.mask = [[create(uri) for uri in chain] for chain in plan.mask_processors]
        self.control = [[create(uri) for uri in chain] for chain in plan.control_processors]
        self.post = [create(uri) for uri in plan.post_processors]

    def post_process(self, output: RenderOutput) -> RenderOutput:
        if not self.post:
            return output
        processed = []
        for image in output.images:
            for processor in self.post:
                image = processor(image)
            processed.append(image)
        return RenderOutput(processed, output.info)


def _batch(plan: RenderPlan, inputs: SeedInputs | None, asked: int
           ) -> tuple[list[Any], list[Any], list[Any], int]:
    """Input images, masks and latents repeated to one per output image, and the batch
    size (``latents:`` alone batches like ``images:``)."""
    batch_size = asked
    if inputs is None or not (inputs.images or inputs.latents):
        return [], [], [], batch_size
    if not plan.capabilities.batched_images:  # image prompts: all of them for every image
        return list(inputs.images), [], [], batch_size
    count = len(inputs.images or inputs.latents)
    if batch_size == 1:
        batch_size = count
    elif batch_size % count:
        raise DgenerateError(f"--batch-size {asked} must be a multiple of the "
                             f"{count} inputs given to images: or latents:")
    repeat = batch_size // count

    def each(items: Sequence[Any]) -> list[Any]:
        per_input = items if len(items) == count else list(items) * count
        return [item for item in per_input for _ in range(repeat)] if items else []

    return each(inputs.images), each(inputs.masks), each(inputs.latents), batch_size


def _job(template: JobTemplate, inputs: SeedInputs | None, plan: RenderPlan,
         model_type: ModelType) -> Job:
    images, masks, latents, batch_size = _batch(
        plan, inputs, template.batch_size or plan.request.batch_size)
    size = inputs.size if inputs is not None and plan.capabilities.batched_images else None
    if size is None:
        size = plan.request.output_size or model_type.default_size()
        size = type(size)(template.width or size.width, template.height or size.height)
    mode = Mode.INPAINT if masks else Mode.IMG2IMG if images else Mode.TXT2IMG
    tensors = inputs is not None and inputs.tensors
    return Job(
        number=template.number, mode=mode, prompt=template.prompt,
        seeds=tuple(template.seed + index for index in range(batch_size)),
        inference_steps=template.inference_steps, guidance_scale=template.guidance_scale,
        width=size.width, height=size.height, strength=template.strength,
        scheduler=template.scheduler, sigmas=template.sigmas,
        images=() if tensors else tuple(images), masks=tuple(masks), values=template.values,
        control_images=inputs.control if inputs else (),
        adapter_images=inputs.adapters if inputs else (), latents=tuple(latents),
        image_latents=tuple(images) if tensors else (),
        floyd_image=inputs.floyd if inputs else None,
        latents_output=plan.request.latents_output, prompt_weighter=template.prompt_weighter)


def image_count(plan: RenderPlan, template: JobTemplate) -> int:
    """How many image files a still job writes."""
    if plan.output.grid is not None:
        return 1
    batch = template.batch_size or plan.request.batch_size
    if template.image_seed is not None and template.image_seed.batched and batch == 1:
        return len(template.image_seed.images)
    return batch


class Renderer:
    """One invocation's render: inputs, the model type, outputs, events."""

    def __init__(self, context: KernelContext, plan: RenderPlan, model_type: ModelType,
                 processors: Processors, runner: JobRunner) -> None:
        self.context = context
        self.plan = plan
        self.model_type = model_type
        self.processors = processors
        self.runner = runner
        path = plan.request.source.path
        self.writer = OutputWriter(plan, model_name=os.path.basename(path.rstrip("/\\")) or path)
        self.result = RenderResult(plan)
        self.total = count_jobs(plan)
        self._stills: dict[int, SeedInputs] = {}
        #: outcomes recorded instead of reported, in a worker process (see RemoteJobs)
        self.records: list[tuple[str, tuple[Any, ...]]] | None = None
        self._animated_seeds: dict[int | None, bool] = {}

    def _open(self, template: JobTemplate) -> SeedMedia:
        plan = self.plan
        media = open_image_seed(
            template.image_seed, output_size=plan.request.output_size,
            no_aspect=plan.request.no_aspect, fetch=self.context.fetch,
            frame_start=plan.frame_start, frame_end=plan.frame_end,
            seed_processors=self.processors.seed, mask_processors=self.processors.mask,
            control_processors=self.processors.control,
            image_prompts=not plan.capabilities.batched_images)
        output = plan.output
        if media.animated and output.animation_format != "frames" and (
                output.metadata or output.auto1111_metadata):
            media.close()
            flag = "--output-metadata" if output.metadata else "--output-auto1111-metadata"
            raise DgenerateError(
                f"{flag}: image seed {template.image_seed.text!r} is animated and animation "
                f"files ({output.animation_format}) cannot carry metadata; use "
                "--animation-format frames to write only frame images, which can")
        return media

    def _run(self, job: Job) -> RenderOutput:
        context = self.context
        context.debug(f"job {job.number}/{self.total}: {job.mode} {job.width}x{job.height} "
                      f"seeds={list(job.seeds)}")
        self._report("started", job)
        output = self.runner.run(job)
        if len(output.images) != job.batch_size:
            raise PluginError(
                f"model type {self.plan.request.source.model_type!r} returned "
                f"{len(output.images)} images for a batch of {job.batch_size}")
        return self.processors.post_process(output)

    def _report(self, kind: str, *details: Any) -> bool:
        """In a worker, record an outcome for the process that runs the executor (True);
        elsewhere tell nothing (False): the caller reports it here."""
        if self.records is not None:
            self.records.append((kind, details))
            return True
        if kind == "started":
            emit(self.context, JobStarted(job=details[0]))
        return False

    def deliver(self, records: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Report the outcomes a worker recorded for one job, as if rendered here."""
        for kind, details in records:
            if kind == "started":
                self._report(kind, *details)
            elif kind == "finished":
                self._finished(*details)
            else:
                self._skipped(None, *details)

    def _finished(self, job: Job, written: list[WrittenImage], animations: list[str],
                  info: dict[str, Any]) -> None:
        if self._report("finished", job, written, animations, dict(info)):
            return
        self.result.images.extend(written)
        self.result.animations.extend(animations)
        self.result.jobs += 1
        for path in [item.path for item in written] + animations:
            print(f"wrote {path}")
        files = [path for item in written for path in (item.path, item.config) if path]
        emit(self.context, JobFinished(job=job, files=(*files, *animations), info=dict(info)))

    def _skipped(self, template: JobTemplate, images: list[WrittenImage] | None,
                 animations: Sequence[str] = ()) -> bool:
        """``--skip-existing``: a job whose files all exist (``images`` is None otherwise) is
        not rendered again; its files count as its results (``last_images``), as if it had
        just written them."""
        if images is None:
            return False
        if self._report("skipped", images, list(animations)):
            return True
        for path in (*(image.path for image in images), *animations):
            print(f"exists {path}")
        self.result.images.extend(images)
        self.result.animations.extend(animations)
        self.result.jobs += 1
        return True

    def _existing(self, template: JobTemplate, frame: int | None = None
                  ) -> list[WrittenImage] | None:
        """The image files of a job (or of one of its frames) when they all exist."""
        paths = self.writer.existing_images(template, image_count(self.plan, template),
                                            frame=frame)
        if paths is None:
            return None
        # batch item i has the seed s + i, as when it was written
        return [WrittenImage(path, template.number,
                             template.seed + (index if len(paths) > 1 else 0), frame=frame)
                for index, path in enumerate(paths)]

    def _animated(self, template: JobTemplate) -> bool:
        """Whether the job's image seed is animated (found out once per image seed)."""
        index = template.image_seed_index
        if index not in self._animated_seeds:
            media = self._open(template)
            media.close()
            self._animated_seeds[index] = media.animated
        return self._animated_seeds[index]

    def still(self, template: JobTemplate) -> None:
        if template.image_seed is not None and self._animated(template):
            media = self._open(template)
            try:
                return self.animation(template, media)
            finally:
                media.close()
        if self._skipped(template, self._existing(template)):
            return None
        inputs = None
        if template.image_seed is not None:
            index = template.image_seed_index
            if index not in self._stills:
                self._stills.clear()  # one image seed's inputs in memory at a time
                media = self._open(template)
                try:
                    self._stills[index] = next(media.frames())
                finally:
                    media.close()
            inputs = self._stills[index]
        job = _job(template, inputs, self.plan, self.model_type)
        output = self._run(job)
        self._finished(job, self.writer.write_images(template, job, output), [], output.info)
        return None

    def _skipped_animation(self, template: JobTemplate, media: SeedMedia) -> bool:
        """``--skip-existing`` for an animated job: done when its animation files exist (or,
        with --animation-format frames, every frame image)."""
        settings = self.plan.output
        frames: list[WrittenImage] = []
        if not settings.no_frames:
            for number in range(1, media.frame_count + 1):
                found = self._existing(template, frame=number)
                if found is None and settings.animation_format == "frames":
                    return False
                frames.extend(found or [])
        if settings.animation_format == "frames":
            return self._skipped(template, frames)
        animations = self.writer.existing_images(template, image_count(self.plan, template),
                                                 animation=True)
        return animations is not None and self._skipped(template, frames, animations)

    def animation(self, template: JobTemplate, media: SeedMedia) -> None:
        """Render every frame of an animated seed; frames and animation files as they come."""
        if self._skipped_animation(template, media):
            return
        plan, output_settings = self.plan, self.plan.output
        written: list[WrittenImage] = []
        animations = None
        job = None
        info: dict[str, Any] = {}
        last_frame = media.start + media.frame_count - 1
        whole = configs.job_config(plan, template, None, frames=(media.start, last_frame))
        try:
            for number, inputs in enumerate(media.frames(), start=1):
                job = _job(template, inputs, plan, self.model_type)
                output = self._run(job)
                info = output.info
                if not output_settings.no_frames:
                    source_frame = media.start + number - 1
                    config = configs.job_config(plan, template, job,
                                                frames=(source_frame, source_frame))
                    written.extend(self.writer.write_images(template, job, output,
                                                            frame=number, config=config))
                if output_settings.animation_format != "frames":
                    frames = self.writer.gridded(list(output.images))
                    if animations is None:
                        animations = self.writer.open_animations(template, len(frames), media.fps)
                    animations.write(frames)
            paths = animations.close() if animations is not None else []
            if output_settings.configs:
                for path in paths:
                    write_text(whole, os.path.splitext(path)[0] + ".dgen")
        except BaseException:
            if animations is not None:
                animations.abort()
            raise
        self._finished(job, written, paths, info)
