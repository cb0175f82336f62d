"""Stable Diffusion 1.x / 2.x on diffusers' StableDiffusion*Pipeline classes."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from diffusers import (
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
)

from dgenerate.plugin_api import (
    ArgSpec,
    DgenerateError,
    Job,
    Mode,
    ModelType,
    RenderOutput,
    RenderRequest,
    Size,
)

from ..diffusion_common.compat import patch_text_encoders
from ..diffusion_common.devices import resolve_device, resolve_dtype
from ..diffusion_common.loading import disk_size, load_pipeline
from ..diffusion_common.quiet import quiet_libraries
from ..diffusion_common.schedulers import (
    build_scheduler,
    check_scheduler_uri,
    compatible_names,
    scheduler_arguments,
)
from ..diffusion_common.sigmas import resolve_sigmas
from ..diffusion_common.sources import ResolvedModel, resolve_model

#: schedulers that drive SD models besides the ones their scheduler lists as compatible
_EXTRA_SCHEDULERS = ("LCMScheduler",)

_PIPELINES = {
    Mode.TXT2IMG: StableDiffusionPipeline,
    Mode.IMG2IMG: StableDiffusionImg2ImgPipeline,
    Mode.INPAINT: StableDiffusionInpaintPipeline,
}


class StableDiffusion(ModelType):
    """Stable Diffusion 1.x and 2.x, including v-prediction models.

    txt2img without --image-seeds, img2img with an image, inpainting with an
    image and a mask. One copy of the weights serves all three: the img2img and
    inpaint pipelines are built from the loaded one and share its modules.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        quiet_libraries(self.context.verbose)
        self.device = resolve_device(self.source.device)
        self.dtype = resolve_dtype(self.source.dtype, self.device)
        self._model: ResolvedModel | None = None
        self._original_scheduler: Any = None
        self._strength_warned: set[tuple[int, float]] = set()

    # ------------------------------------------------------------------ checks

    def check(self, request: RenderRequest) -> None:
        if request.uses_image_seeds and any(
                value is not None for value in request.guidance_rescales):
            raise DgenerateError("--guidance-rescales works only for txt2img with model type "
                                 "sd (no --image-seeds)")
        for uri in request.schedulers:
            if uri is not None:
                check_scheduler_uri(uri, self.context)

    # ----------------------------------------------------------------- loading

    @property
    def model(self) -> ResolvedModel:
        if self._model is None:
            source = self.source
            self._model = resolve_model(
                source.path, fetch=self.context.fetch, token=source.auth_token,
                offline=self.context.offline_mode)
        return self._model

    def _key(self) -> tuple:
        source = self.source
        return ("sd", self.model.kind, self.model.location, source.revision, source.variant,
                source.subfolder, source.original_config, str(self.dtype), self.device,
                source.safety_checker)

    def _check_loading_options(self) -> None:
        source, kind = self.source, self.model.kind
        if source.original_config is not None and kind != "file":
            what = "folder" if kind == "folder" else "Hugging Face repository"
            raise DgenerateError(f"--original-config applies to single-file checkpoints only; "
                                 f"{source.path!r} is a {what}")
        if kind == "file":
            for flag, value in (("--variant", source.variant), ("--subfolder", source.subfolder),
                                ("--revision", None if source.revision == "main"
                                 else source.revision)):
                if value is not None:
                    self.context.debug(f"{flag} {value} does not apply to the single-file "
                                       f"checkpoint {source.path!r}; it is ignored")

    def _load_base(self) -> Any:
        self._check_loading_options()
        extra: dict[str, Any] = {}
        if not self.source.safety_checker:
            extra = {"safety_checker": None, "requires_safety_checker": False}
        source = self.source
        pipeline = load_pipeline(
            StableDiffusionPipeline, self.model, dtype=self.dtype, revision=source.revision,
            variant=source.variant, subfolder=source.subfolder, token=source.auth_token,
            offline=self.context.offline_mode, original_config=source.original_config,
            extra=extra, debug=self.context.debug)
        patch_text_encoders(pipeline)
        return pipeline.to(self.device)

    def _base(self) -> Any:
        pipeline = self.context.cache("pipeline").get_or_create(
            self._key(), self._load_base, size=disk_size(self.model))
        if self._original_scheduler is None:
            self._original_scheduler = (type(pipeline.scheduler), dict(pipeline.scheduler.config))
        return pipeline

    def _pipeline(self, mode: Mode) -> Any:
        base = self._base()
        if mode is Mode.TXT2IMG:
            return base
        # from_pipe shares every module with the base: no second copy of the weights
        return self.context.cache("pipeline").get_or_create(
            (*self._key(), str(mode)), lambda: _PIPELINES[mode].from_pipe(base), size=0)

    def default_size(self) -> Size:
        base = self._base()
        side = base.unet.config.sample_size * base.vae_scale_factor
        return Size(side, side)

    # ----------------------------------------------------------------- running

    def _scheduler(self, pipeline: Any, uri: str | None) -> Any:
        cls, config = self._original_scheduler
        fresh = cls.from_config(config)
        if uri is None:
            return fresh
        return build_scheduler(uri, fresh, config, self.context, extra=_EXTRA_SCHEDULERS)

    def scheduler_names(self) -> list[str]:
        return compatible_names(self._base().scheduler, extra=_EXTRA_SCHEDULERS)

    def scheduler_arguments(self, name: str) -> tuple[ArgSpec, ...]:
        return scheduler_arguments(name)

    def _arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        batch = job.batch_size
        arguments: dict[str, Any] = {
            "prompt": [job.prompt.positive] * batch,
            "num_inference_steps": job.inference_steps,
            "guidance_scale": job.guidance_scale,
            "generator": [torch.Generator("cpu").manual_seed(seed) for seed in job.seeds],
            "output_type": "pil",
        }
        if job.prompt.negative:
            arguments["negative_prompt"] = [job.prompt.negative] * batch
        if job.clip_skip is not None:
            arguments["clip_skip"] = job.clip_skip
        if job.sigmas is not None:
            arguments["sigmas"] = resolve_sigmas(job.sigmas, pipeline.scheduler,
                                                 job.inference_steps)
            del arguments["num_inference_steps"]
        if job.mode is Mode.TXT2IMG:
            arguments.update(width=job.width, height=job.height)
            if job.guidance_rescale is not None:
                arguments["guidance_rescale"] = job.guidance_rescale
        else:
            arguments.update(image=list(job.images), strength=job.strength)
        if job.mode is Mode.INPAINT:
            arguments.update(mask_image=list(job.masks), width=job.width, height=job.height)
        return arguments

    def _strength(self, job: Job) -> float | None:
        """img2img runs int(steps x strength) steps: when that is 0, raise the strength to
        one step and say so (as dgenerate 5.0.0 does) rather than refuse the job."""
        strength, steps = job.strength, job.inference_steps
        if strength is None or job.sigmas is not None or int(steps * strength) >= 1:
            return strength
        raised = 1 / steps
        while int(steps * raised) < 1:  # 1/steps can round below one step
            raised = math.nextafter(raised, 2.0)
        if (steps, strength) not in self._strength_warned:
            self._strength_warned.add((steps, strength))
            self.context.warn(
                f"--inference-steps {steps} with --image-seed-strengths {strength} leaves no "
                f"denoising step (img2img runs steps x strength of them); the strength is "
                f"raised to {raised:.4g}, one step")
        return raised

    def _check_clip_skip(self, job: Job, pipeline: Any) -> None:
        layers = pipeline.text_encoder.config.num_hidden_layers
        if job.clip_skip is not None and job.clip_skip >= layers:
            raise DgenerateError(
                f"--clip-skips {job.clip_skip}: the text encoder of {self.source.path!r} has "
                f"{layers} layers, so at most {layers - 1} can be skipped")

    def render(self, job: Job) -> RenderOutput:
        job = dataclasses.replace(job, strength=self._strength(job))
        pipeline = self._pipeline(job.mode)
        self._check_clip_skip(job, pipeline)
        pipeline.scheduler = self._scheduler(pipeline, job.scheduler)
        vae = pipeline.vae
        vae.enable_tiling() if self.source.vae_tiling else vae.disable_tiling()
        vae.enable_slicing() if self.source.vae_slicing else vae.disable_slicing()
        arguments = self._arguments(job, pipeline)
        self.context.debug("pipeline call: " + ", ".join(
            f"{key}={_describe(value)}" for key, value in arguments.items()))
        progress = self.context.progress(job.inference_steps, "steps")
        pipeline.set_progress_bar_config(disable=True)

        def step_done(_pipeline: Any, _step: int, _timestep: Any, tensors: dict) -> dict:
            progress.update(1)
            return tensors

        try:
            with torch.inference_mode():
                result = pipeline(**arguments, callback_on_step_end=step_done)
        except (ValueError, TypeError) as error:
            # diffusers' own message rarely says which setting it disliked: name the likely ones
            setting = f"{type(pipeline.scheduler).__name__}, {job.inference_steps} steps"
            raise DgenerateError(f"model type sd cannot run job {job.number} ({setting}): "
                                 f"{error}") from error
        finally:
            progress.close()
        info = {"scheduler": type(pipeline.scheduler).__name__}
        if self.model.kind == "file":
            info["model_file"] = self.model.location
        return RenderOutput(list(result.images), info)


def _describe(value: Any) -> str:
    if isinstance(value, list) and value and not isinstance(value[0], (str, int, float)):
        return f"[{len(value)} x {type(value[0]).__name__}]"
    if dataclasses.is_dataclass(value):
        return type(value).__name__
    return repr(value)
