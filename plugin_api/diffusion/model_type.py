"""A model type for diffusers pipelines, written as tables plus what a family adds.

A family subclasses :class:`DiffusersModelType`, names its pipeline class per mode
in ``pipelines`` and overrides only what is its own (extra call arguments, extra
loading arguments, a second model ...). The base class resolves the model source,
loads and caches the pipeline (the other modes share its modules through
``from_pipe``), applies ``--quantizer``, sets the scheduler and sigmas, builds the
common call arguments and runs the call with a progress bar and clear errors.

torch and diffusers are imported when a method needs them, so importing this
module is cheap; it is the ``target`` module of a family that pays for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import Any, ClassVar

from ..args import ArgSpec
from ..errors import DgenerateError
from ..interfaces.model_type import ModelType, RenderOutput
from ..interfaces.sub_model import LoadTarget
from ..render import Job, Mode, RenderRequest
from ..specs import Category
from ..values import Size
from .a1111 import a1111_sampler
from .compat import patch_text_encoders
from .devices import resolve_device, resolve_dtype
from .latents import (
    apply_processors,
    check_latents_job,
    check_latents_request,
    decode_latents,
    start_step,
    strength_starting_at,
    without_noising,
)
from .loading import disk_size, load_pipeline
from .quiet import quiet_libraries
from .schedulers import build_scheduler, check_scheduler_uri, compatible_names, scheduler_arguments
from .sharing import accepted_modules, describe_sharing, offered_modules, sharing_key
from .sigmas import resolve_sigmas
from .sources import ResolvedModel, resolve_model

__all__ = ["DiffusersModelType", "offload_mode", "original_scheduler", "pipeline_class",
           "place_pipeline"]


def pipeline_class(name: str) -> Any:
    """The diffusers class called ``name``, or the class ``"package.module:Class"`` (a family's
    own pipeline); imported on first use."""
    if ":" in name:
        import importlib

        module, _, attribute = name.partition(":")
        return getattr(importlib.import_module(module), attribute)
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None:
        raise DgenerateError(f"the installed diffusers has no pipeline class {name!r}")
    return cls


def offload_mode(values: Mapping[str, Any], prefix: str = "model",
                 flags: tuple[str, str] = ("--model-cpu-offload",
                                           "--model-sequential-offload")) -> str | None:
    """``"model"``, ``"sequential"`` or None from the offload switches ``<prefix>_cpu_offload``
    and ``<prefix>_sequential_offload`` (named ``flags`` in the error when both are given)."""
    model = bool(values.get(f"{prefix}_cpu_offload"))
    sequential = bool(values.get(f"{prefix}_sequential_offload"))
    if model and sequential:
        raise DgenerateError(f"{flags[0]} and {flags[1]} cannot be used together: choose one "
                             "way of offloading")
    return "model" if model else "sequential" if sequential else None


def place_pipeline(pipeline: Any, device: str, offload: str | None, *,
                   debug: Callable[[str], None], flag: str = "--model-cpu-offload") -> Any:
    """Put ``pipeline`` on ``device``, or let diffusers offload it there (``offload`` is
    ``"model"`` or ``"sequential"``). On the CPU device the weights already live in CPU
    memory, so offloading is a no-op (said with ``-v``) rather than an error: a config
    written for a GPU still runs."""
    if offload is None:
        return pipeline.to(device)
    if device == "cpu":
        debug(f"{flag}: the device is the CPU, where the weights already are; nothing to "
              "offload")
        return pipeline.to(device)
    if offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
    else:
        pipeline.enable_sequential_cpu_offload(device=device)
    return pipeline


_ORIGINAL_SCHEDULERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def original_scheduler(pipeline: Any) -> tuple[Any, dict[str, Any]]:
    """The class and config of the scheduler ``pipeline`` was loaded with. Recorded the first
    time a pipeline is seen (call it right after loading): jobs replace the scheduler of
    a cached pipeline, and a later invocation must still start from the loaded one."""
    known = _ORIGINAL_SCHEDULERS.get(pipeline)
    if known is None:
        known = (type(pipeline.scheduler), dict(pipeline.scheduler.config))
        _ORIGINAL_SCHEDULERS[pipeline] = known
    return known


class DiffusersModelType(ModelType):
    """The phases of a model type for diffusers pipelines.

    Class attributes a family sets:

    * ``pipelines`` - the diffusers pipeline class name per mode; the first mode
      listed is the one loaded from disk, the others are built from it with
      ``from_pipe`` (sharing every module);
    * ``extra_schedulers`` - scheduler classes known to work beside those diffusers
      lists as compatible;
    * ``family`` - the family's name in messages (the model type name by default);
    * ``guidance_rescale_modes`` - the modes whose pipelines take ``--guidance-rescales``;
    * ``variant_pipelines`` - per pipeline variant a sub-model kind asks for
      (``"controlnet"``, ``"controlnet_union"``, ``"t2i_adapter"``), the pipeline class per
      mode; built from the loaded base pipeline with the kind's components;
    * ``latents_native`` - its pipelines take ``denoising_start`` / ``denoising_end``
      (SDXL); otherwise the toolkit stops and resumes them itself (see :mod:`.latents`);
    * ``denoising_schedulers`` - the schedulers that may stop and resume part way
      (``None``: any).

    A family declaring the ``latents`` image-seed input gets latents interchange: tensor
    ``--image-format`` outputs, ``latents:`` / ``latents=`` and tensor image inputs,
    ``--denoising-start`` / ``--denoising-end`` and the latents processor options.
    """

    pipelines: ClassVar[Mapping[Mode, str]] = {}
    variant_pipelines: ClassVar[Mapping[str, Mapping[Mode, str]]] = {}
    extra_schedulers: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str | None] = None
    guidance_rescale_modes: ClassVar[frozenset[Mode]] = frozenset({Mode.TXT2IMG})
    latents_native: ClassVar[bool] = False
    denoising_schedulers: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        quiet_libraries(self.context.verbose)
        self.device = resolve_device(self.source.device)
        self.dtype = resolve_dtype(self.source.dtype, self.device)
        self._model: ResolvedModel | None = None
        self._sub_models: list[Any] | None = None
        self._original_scheduler: tuple[Any, dict[str, Any]] | None = None
        self._strength_warned: set[tuple[int, float]] = set()

    @property
    def name(self) -> str:
        return self.family or self.source.model_type

    # ------------------------------------------------------------------- checks

    def check(self, request: RenderRequest) -> None:
        """Scheduler URIs name real schedulers with real arguments; txt2img-only options
        are not combined with image seeds; one way of offloading at most."""
        offload_mode(request.values)
        if request.uses_image_seeds and self.guidance_rescale_modes <= {Mode.TXT2IMG} and any(
                value is not None for value in request.values.get("guidance_rescales") or ()):
            raise DgenerateError(f"--guidance-rescales works only for txt2img with model type "
                                 f"{self.name} (no --image-seeds)")
        for uri in request.schedulers:
            if uri is not None:
                check_scheduler_uri(uri, self.context)
        if any(sigmas is not None for sigmas in request.sigmas):
            self.check_call_parameter(request, "sigmas", "--sigmas")
        for sub_model in self.sub_models():
            sub_model.check(request.values, self.name)
        variants = self.variants(request.values)
        self._check_variants(request, variants)
        self._check_call_parameters(request, variants)
        if "latents" in self.capabilities.inputs:
            check_latents_request(request, self.name, schedulers=self.denoising_schedulers,
                                  context=self.context)

    def pipeline_mode(self, job: Job) -> Mode:
        """The mode whose pipeline runs ``job``: resuming from ``latents:`` alone is done
        by the img2img pipeline."""
        return Mode.IMG2IMG if job.latents and job.mode is Mode.TXT2IMG else job.mode

    def _check_call_parameters(self, request: RenderRequest,
                               variants: list[tuple[Any, str]]) -> None:
        """Every pipeline the request may run takes the call parameters of the given
        sub-models (an IP adapter cannot steer a pipeline that has no ip_adapter_image)."""
        table = self.variant_pipelines.get(variants[0][1], {}) if variants else self.pipelines
        given = [sub_model for sub_model in self.sub_models() if sub_model.call_parameters
                 and sub_model.given(request.values)]
        for mode in sorted(request.modes & set(table)) if given else ():
            for sub_model in given:
                missing = [name for name in sub_model.call_parameters
                           if not _takes(table[mode], name)]
                if missing:
                    also = f" with {_flag(variants[0][0])}" if variants else ""
                    raise DgenerateError(
                        f"{_flag(sub_model)} does not work{also} for {mode} with --model-type "
                        f"{self.name}: its pipeline {table[mode]} takes no {missing[0]}")

    def _check_variants(self, request: RenderRequest, variants: list[tuple[Any, str]]) -> None:
        """One pipeline variant at most, one the family has, in the modes it has."""
        if len(variants) > 1:
            flags = " and ".join(_flag(sub_model) for sub_model, _ in variants)
            raise DgenerateError(f"{flags} cannot be used together: choose one")
        for sub_model, variant in variants:
            table = self.variant_pipelines.get(variant)
            if table is None:
                known = ", ".join(name.replace("_", " ") for name in self.variant_pipelines)
                raise DgenerateError(
                    f"{_flag(sub_model)} does not apply to --model-type {self.name}"
                    + (f": these need its {variant.replace('_', ' ')} pipelines, and it has "
                       f"only {known} ones" if known else ""))
            missing = sorted(str(mode) for mode in request.modes if mode not in table)
            if missing:
                hint = ("; give the control images alone: --image-seeds \"control.png\""
                        if set(table) == {Mode.TXT2IMG} else "")
                raise DgenerateError(
                    f"{_flag(sub_model)} with --model-type {self.name} works only for "
                    f"{', '.join(sorted(map(str, table)))}, not {', '.join(missing)} (given by "
                    f"--image-seeds){hint}")
            if any(value is not None for value in request.values.get("guidance_rescales") or ()):
                for mode in sorted(request.modes):
                    if not _takes(table[mode], "guidance_rescale"):
                        raise DgenerateError(
                            f"--guidance-rescales does not work with {_flag(sub_model)} for "
                            f"{mode} with --model-type {self.name} ({table[mode]} takes no "
                            "guidance rescale)")

    def variants(self, values: Mapping[str, Any]) -> list[tuple[Any, str]]:
        """The given sub-models that ask for a pipeline variant, with the variant."""
        found = []
        for sub_model in self.sub_models():
            if sub_model.given(values):
                variant = sub_model.pipeline_variant(values)
                if variant is not None:
                    found.append((sub_model, variant))
        return found

    def check_call_parameter(self, request: RenderRequest, parameter: str, flag: str) -> None:
        """Refuse ``flag`` when a pipeline the request may use (txt2img, or the image modes
        with --image-seeds) takes no ``parameter`` in its call (imports diffusers)."""
        for mode, name in self.pipelines.items():
            if (mode is Mode.TXT2IMG) == request.uses_image_seeds:
                continue
            if not _takes(name, parameter):
                raise DgenerateError(f"{flag} does not apply to --model-type {self.name}: its "
                                     f"{mode} pipeline ({name}) takes no {parameter}")

    def help_text(self, request: RenderRequest) -> str | None:
        """A sub-model kind's help (``--text-encoders help``): the first sub-model with a
        ``help_text(values, target)`` method that answers for the request's values."""
        for sub_model in self.sub_models():
            describe = getattr(sub_model, "help_text", None)
            if describe is not None:
                text = describe(request.values,
                                self.load_target(pipeline_class(self.pipelines[self.base_mode])))
                if text is not None:
                    return text
        return None

    # ------------------------------------------------------------------ sources

    def resolve(self, path: str) -> ResolvedModel:
        """Where ``path`` is: a folder, a hub repository, or a single file brought to disk
        (URLs and blob links are downloaded). Override to add names of your own."""
        return resolve_model(path, fetch=self.context.fetch, token=self.source.auth_token,
                             offline=self.context.offline_mode)

    @property
    def model(self) -> ResolvedModel:
        if self._model is None:
            self._model = self.resolve(self.source.path)
        return self._model

    # ------------------------------------------------------------------ loading

    @property
    def base_mode(self) -> Mode:
        return next(iter(self.pipelines))

    def loading_arguments(self) -> dict[str, Any]:
        """Extra keyword arguments of ``from_pretrained`` / ``from_single_file``."""
        return {}

    def loading_key(self) -> tuple[Hashable, ...]:
        """What else, besides the source, dtype and device, changes the loaded weights."""
        return ()

    def base_key(self) -> tuple[Hashable, ...]:
        source = self.source
        return (type(self).__qualname__, source.model_type, self.model.kind, self.model.location,
                source.revision, source.variant, source.subfolder, str(self.dtype), self.device,
                source.quantizer, source.values.get("original_config"),
                offload_mode(source.values), *self.loading_key(),
                *((sub_model.slot, sub_model.load_key(source.values))
                  for sub_model in self.base_sub_models()), *sharing_key(self.shared_modules()))

    def shared_modules(self) -> dict[str, Any]:
        """The modules ``\\use_modules`` shares with this invocation that the base pipeline
        class takes (``from_pretrained`` keywords that replace loading them)."""
        offered = offered_modules(self.context)
        if not offered:
            return {}
        return accepted_modules(offered, pipeline_class(self.pipelines[self.base_mode]))

    def base_sub_models(self) -> list[Any]:
        """The given sub-models that are part of the base pipeline (not of a variant)."""
        values = self.source.values
        return [sub_model for sub_model in self.sub_models() if sub_model.given(values)
                and sub_model.pipeline_variant(values) is None]

    def sub_models(self) -> list[Any]:
        """The sub-model kinds (``SubModel`` plugins) whose slot this model type declares,
        created once."""
        if self._sub_models is None:
            slots = self.capabilities.slots
            self._sub_models = []
            for spec in self.context.specs(Category.SUB_MODEL):
                if spec.slot in slots:
                    made = self.context.create(Category.SUB_MODEL, spec.name)
                    made.slot = spec.slot
                    made.option_names = tuple(option.name for option in spec.options)
                    self._sub_models.append(made)
        return self._sub_models

    def load_target(self, pipeline_cls: Any) -> LoadTarget:
        """What sub-models load for: the main model's type, pipeline class, dtype, device."""
        source = self.source
        return LoadTarget(model_type=self.name, pipeline_class=pipeline_cls, dtype=self.dtype,
                          device=self.device, revision=source.revision, variant=source.variant,
                          token=source.auth_token, offline=self.context.offline_mode,
                          model=self.model, subfolder=source.subfolder)

    def quantization_config(self, pipeline_cls: Any) -> Any:
        """diffusers' ``PipelineQuantizationConfig`` for ``--quantizer``, or None."""
        if self.source.quantizer is None:
            return None
        import inspect

        from diffusers import PipelineQuantizationConfig
        quantizer = self.context.create(Category.QUANTIZER, self.source.quantizer,
                                        device=self.device)
        mapping = {}
        for component in inspect.signature(pipeline_cls.__init__).parameters:
            if component in ("unet", "transformer", "prior", "decoder", "controlnet"):
                config = quantizer.diffusers_config()
            elif component.startswith("text_encoder"):
                config = quantizer.transformers_config()
            else:
                continue
            if config is not None:
                mapping[component] = config
        return PipelineQuantizationConfig(quant_mapping=mapping) if mapping else None

    def _check_single_file_options(self) -> None:
        source, kind = self.source, self.model.kind
        if source.values.get("original_config") is not None and kind != "file":
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

    def load_base(self) -> Any:
        """Load the pipeline of ``base_mode`` from the model source."""
        self._check_single_file_options()
        source = self.source
        cls = pipeline_class(self.pipelines[self.base_mode])
        target = self.load_target(cls)
        shared = self.shared_modules()  # \use_modules: the defaults sub-models may replace
        extra = {**self.loading_arguments(), **shared}
        given = self.base_sub_models()
        supplied: set[str] = set()
        replaced: dict[str, str] = {}
        for sub_model in given:
            components = sub_model.components(source.values, target)
            supplied.update(components)
            extra.update(components)
            replaced.update((name, _flag(sub_model)) for name in components if name in shared)
        if offered_modules(self.context):
            self.context.debug(describe_sharing(cls, offered_modules(self.context), shared,
                                                replaced))
        # parts from the sub-model caches (or shared by \use_modules) may be shared with
        # other pipelines: attach steps that change weights in place (fusing LoRAs ...)
        # must change copies of them
        target = dataclasses.replace(target, shared=frozenset(supplied | set(shared)))
        pipeline = load_pipeline(
            cls, self.model, dtype=self.dtype, revision=source.revision,
            variant=source.variant, subfolder=source.subfolder, token=source.auth_token,
            offline=self.context.offline_mode,
            original_config=source.values.get("original_config"),
            extra=extra, debug=self.context.debug,
            quantization_config=self.quantization_config(cls))
        for sub_model in given:
            sub_model.attach(pipeline, source.values, target)
        patch_text_encoders(pipeline)
        original_scheduler(pipeline)
        return place_pipeline(pipeline, self.device, offload_mode(source.values),
                              debug=self.context.debug)

    def base(self) -> Any:
        """The loaded base pipeline, from the kernel's ``pipeline`` cache."""
        # an offloaded pipeline keeps its weights in host memory
        device = "cpu" if offload_mode(self.source.values) else self.device
        pipeline = self.context.cache("pipeline").get_or_create(
            self.base_key(), self.load_base, size=disk_size(self.model), device=device)
        if self._original_scheduler is None:
            self._original_scheduler = original_scheduler(pipeline)
        return pipeline

    def load_key(self, job: Job) -> Hashable:
        # the base mode's key is the one base() caches the loaded pipeline under
        key = self.base_key()
        variants = tuple((variant, sub_model.load_key(job.values))
                         for sub_model, variant in self.variants(self.source.values))
        mode = self.pipeline_mode(job)
        if mode is self.base_mode and not variants:
            return key
        return (*key, str(mode), *variants)

    def load(self, job: Job) -> Any:
        variants = self.variants(self.source.values)
        table = self.variant_pipelines[variants[0][1]] if variants else self.pipelines
        mode = self.pipeline_mode(job)
        if mode not in table:
            raise DgenerateError(f"model type {self.name} does not do {mode}")
        base = self.base()
        if mode is self.base_mode and not variants:
            return base
        cls = pipeline_class(table[mode])
        import inspect

        accepted = inspect.signature(cls.__init__).parameters
        # the base's modules passed on by name: from_pipe drops a module whose class the new
        # pipeline's type hints do not name (an AutoencoderTiny or ConsistencyDecoderVAE
        # given to StableDiffusionImg2ImgPipeline)
        components = {name: module for name, module in base.components.items()
                      if name in accepted and module is not None}
        for sub_model, _ in variants:
            components.update(sub_model.components(self.source.values, self.load_target(cls)))
        # the family's extra arguments, where the variant's class takes them (the SDXL adapter
        # pipeline has no add_watermarker)
        extra = {key: value for key, value in self.from_pipe_arguments().items()
                 if key in accepted}
        # from_pipe shares every module with the base: no second copy of the weights
        return _keeping_dtypes(cls).from_pipe(base, **extra, **components)

    def from_pipe_arguments(self) -> dict[str, Any]:
        """Extra keyword arguments of ``from_pipe`` for the pipelines of the other modes."""
        return {}

    def load_size(self, job: Job) -> int | None:
        return 0  # the base pipeline is accounted for in base()

    def default_size(self) -> Size:
        if self.capabilities.default_size is not None:
            return self.capabilities.default_size
        base = self.base()
        side = base.unet.config.sample_size * base.vae_scale_factor
        return Size(side, side)

    # --------------------------------------------------------------- schedulers

    def scheduler(self, uri: str | None) -> Any:
        """A fresh scheduler: the model's own, or the one ``uri`` names."""
        if self._original_scheduler is None:
            self.base()
        cls, config = self._original_scheduler
        fresh = cls.from_config(config)
        if uri is None:
            return fresh
        return build_scheduler(uri, fresh, config, self.context, extra=self.extra_schedulers)

    def scheduler_names(self) -> list[str]:
        return compatible_names(self.base().scheduler, extra=self.extra_schedulers)

    def scheduler_arguments(self, name: str) -> tuple[ArgSpec, ...]:
        return scheduler_arguments(name)

    # ---------------------------------------------------------- call arguments

    def strength(self, job: Job) -> float | None:
        """img2img runs int(steps x strength) steps: when that is 0, the strength is raised
        to one step with a warning (as dgenerate 5.0.0 does) rather than refusing the job."""
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

    def generators(self, job: Job) -> list[Any]:
        """One CPU generator per image, seeded with its seed (same image on any device)."""
        import torch

        return [torch.Generator("cpu").manual_seed(seed) for seed in job.seeds]

    def check_clip_skip(self, job: Job, pipeline: Any) -> None:
        clip_skip = job.values.get("clip_skips")
        encoder = getattr(pipeline, "text_encoder", None) or getattr(
            pipeline, "text_encoder_2", None)
        if clip_skip is None or encoder is None:
            return
        layers = encoder.config.num_hidden_layers
        if clip_skip >= layers:
            raise DgenerateError(
                f"--clip-skips {clip_skip}: the text encoder of {self.source.path!r} has "
                f"{layers} layers, so at most {layers - 1} can be skipped")

    def prepare(self, job: Job, pipeline: Any) -> None:
        """Set what belongs to the pipeline rather than its call: the scheduler, VAE
        tiling and slicing."""
        pipeline.scheduler = self.scheduler(job.scheduler)
        vae = getattr(pipeline, "vae", None)
        if vae is not None and hasattr(vae, "enable_tiling"):
            vae.enable_tiling() if job.values.get("vae_tiling") else vae.disable_tiling()
        if vae is not None and hasattr(vae, "enable_slicing"):
            vae.enable_slicing() if job.values.get("vae_slicing") else vae.disable_slicing()

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        """The arguments every diffusers text-to-image family takes; families add theirs."""
        job = dataclasses.replace(job, strength=self.strength(job))
        self.prepare(job, pipeline)
        self.check_clip_skip(job, pipeline)
        batch = job.batch_size
        arguments: dict[str, Any] = {
            "prompt": [job.prompt.positive] * batch,
            "num_inference_steps": job.inference_steps,
            "guidance_scale": job.guidance_scale,
            "generator": self.generators(job),
            "output_type": "pil",
        }
        if job.prompt.negative:
            arguments["negative_prompt"] = [job.prompt.negative] * batch
        values = job.values
        if values.get("clip_skips") is not None:
            arguments["clip_skip"] = values["clip_skips"]
        if job.sigmas is not None:
            arguments["sigmas"] = resolve_sigmas(job.sigmas, pipeline.scheduler,
                                                 job.inference_steps)
            del arguments["num_inference_steps"]
        if job.mode is Mode.TXT2IMG:
            arguments.update(width=job.width, height=job.height)
        else:
            arguments["image"] = list(job.images)
            if self.capabilities.strength:
                arguments["strength"] = job.strength
        if job.mode is Mode.INPAINT:
            arguments.update(mask_image=list(job.masks), width=job.width, height=job.height)
        if values.get("guidance_rescales") is not None and job.mode in self.guidance_rescale_modes:
            arguments["guidance_rescale"] = values["guidance_rescales"]
        for sub_model in self.sub_models():
            if sub_model.given(values):
                arguments.update(sub_model.call_arguments(job, pipeline, values))
        if "latents" in self.capabilities.inputs:
            self.latents_arguments(job, pipeline, arguments)
        return arguments

    def latents_arguments(self, job: Job, pipeline: Any, arguments: dict[str, Any]) -> None:
        """The call arguments of latents interchange (see :mod:`.latents`)."""
        import inspect

        import torch

        check_latents_job(job, self.name, native=self.latents_native)
        values, steps, device = job.values, job.inference_steps, self.source.device
        start, end = values.get("denoising_start"), values.get("denoising_end")
        tensors = None
        if job.image_latents:
            tensors = apply_processors(job, self.context, "img2img_latents_processors",
                                       job.image_latents, pipeline, device)
            if not (self.latents_native and start is not None):
                arguments["image"], tensors = decode_latents(pipeline, tensors, self.name), None
        if job.latents:
            tensors = apply_processors(job, self.context, "latents_processors", job.latents,
                                       pipeline, device)
        takes = inspect.signature(type(pipeline).__call__).parameters
        if tensors is not None:
            latents = torch.stack(list(tensors))
            arguments["image"] = latents
            scale = getattr(pipeline, "vae_scale_factor", 8)
            for side, size in (("height", latents.shape[-2]), ("width", latents.shape[-1])):
                arguments.pop(side, None)
                if side in takes:
                    arguments[side] = int(size) * scale
            if self.latents_native:
                arguments["denoising_start"] = start
            else:
                arguments["strength"] = strength_starting_at(steps, start_step(steps, start))
        if end is not None and self.latents_native:
            arguments["denoising_end"] = end
        if job.latents_output:
            arguments["output_type"] = "latent"

    def stop_step(self, job: Job, arguments: Mapping[str, Any]) -> int | None:
        """With ``--denoising-end`` in a family that stops its loop itself: how many of the
        steps the call runs are taken before stopping."""
        end = job.values.get("denoising_end")
        if end is None or self.latents_native or "latents" not in self.capabilities.inputs:
            return None
        steps = job.inference_steps
        strength = arguments.get("strength")
        first = steps - int(steps * strength) if strength is not None else 0
        return max(1, start_step(steps, end) - first)

    def outputs(self, job: Job, pipeline: Any, images: Any) -> list[Any]:
        """What a job returns from the pipeline's output: images, or with a tensor
        ``--image-format`` one latents tensor per image (Flux's packed latents unpacked),
        after ``--latents-post-processors``."""
        if not job.latents_output:
            return list(images)
        if images.ndim == 3 and hasattr(pipeline, "_unpack_latents"):  # packed (Flux)
            images = pipeline._unpack_latents(images, job.height, job.width,
                                              pipeline.vae_scale_factor)
        return apply_processors(job, self.context, "latents_post_processors", list(images),
                                pipeline, self.source.device)

    # -------------------------------------------------------------------- call

    def info(self, job: Job, pipeline: Any) -> dict[str, Any]:
        """Facts for metadata about how the job ran."""
        scheduler = type(pipeline.scheduler).__name__
        info: dict[str, Any] = {"scheduler": scheduler, "sampler": a1111_sampler(scheduler)}
        if self.model.kind == "file":
            info["model_file"] = self.model.location
        return info

    def run_pipeline(self, job: Job, pipeline: Any, arguments: dict[str, Any], *,
                     steps: int | None = None, what: str = "steps") -> Any:
        """Call ``pipeline`` with a progress bar of ``steps``; errors name the job."""
        import torch

        self.context.debug("pipeline call: " + ", ".join(
            f"{key}={_describe(value)}" for key, value in arguments.items()))
        progress = self.context.progress(steps or job.inference_steps, what)
        pipeline.set_progress_bar_config(disable=True)
        callback = _step_callback(pipeline, progress, self.stop_step(job, arguments))
        resuming = job.latents and not self.latents_native
        try:
            with torch.inference_mode(), without_noising(pipeline.scheduler) if resuming \
                    else contextlib.nullcontext():
                return pipeline(**arguments, **callback)
        except (ValueError, TypeError) as error:
            # diffusers' own message rarely says which setting it disliked: name the likely ones
            setting = f"{type(pipeline.scheduler).__name__}, {job.inference_steps} steps"
            raise DgenerateError(f"model type {self.name} cannot run job {job.number} "
                                 f"({setting}): {error}") from error
        finally:
            progress.close()

    def call(self, job: Job, pipeline: Any, arguments: dict[str, Any]) -> RenderOutput:
        result = self.run_pipeline(job, pipeline, arguments)
        return RenderOutput(self.outputs(job, pipeline, result.images), self.info(job, pipeline))


def _step_callback(pipeline: Any, progress: Any, stop: int | None = None) -> dict[str, Any]:
    """The call arguments that advance ``progress`` after every step: ``callback_on_step_end``
    where the pipeline takes it, else the older ``callback`` (the x2 and x4 upscalers), else
    none (the bar then stays still until the call returns). With ``stop`` the loop is
    interrupted after that many steps (the pipelines skip the rest and return what they
    have: ``--denoising-end``)."""
    import inspect

    parameters = inspect.signature(type(pipeline).__call__).parameters
    if "callback_on_step_end" in parameters:
        def step_done(the_pipeline: Any, step: int, _timestep: Any, tensors: dict) -> dict:
            progress.update(1)
            if stop is not None and step + 1 >= stop:
                the_pipeline._interrupt = True
            return tensors

        return {"callback_on_step_end": step_done}
    if "callback" in parameters:
        return {"callback": lambda *_: progress.update(1), "callback_steps": 1}
    return {}


@functools.cache
def _takes(name: str, parameter: str) -> bool:
    """Whether the pipeline class ``name`` takes ``parameter`` in its call."""
    import inspect

    return parameter in inspect.signature(pipeline_class(name).__call__).parameters


@functools.cache
def _keeping_dtypes(cls: Any) -> Any:
    """``cls`` whose pipelines ignore a dtype given to ``to()``. ``from_pipe`` casts every
    module of the pipeline it builds to a dtype (float32 unless told): that would recast the
    modules it shares with the base pipeline (float16 on a GPU, for the base too) and fails
    for quantized ones. The modules keep the dtypes they were loaded with; moving to a
    device still works."""
    import torch

    def to(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("dtype", None)
        args = tuple(arg for arg in args if not isinstance(arg, torch.dtype))
        return cls.to(self, *args, **kwargs) if args or kwargs else self

    return type(cls.__name__, (cls,), {"to": to, "__module__": cls.__module__,
                                       "__qualname__": cls.__qualname__,
                                       "__doc__": cls.__doc__})


def _flag(sub_model: Any) -> str:
    return "--" + sub_model.option_names[0].replace("_", "-")


def _describe(value: Any) -> str:
    if isinstance(value, list) and value and not isinstance(value[0], (str, int, float)):
        return f"[{len(value)} x {type(value[0]).__name__}]"
    if dataclasses.is_dataclass(value) or hasattr(value, "shape"):
        return type(value).__name__
    return repr(value)
