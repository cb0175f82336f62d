"""A second model a family loads beside its main one (the SDXL refiner, the Stable Cascade
decoder), written once.

Such a model comes from a URI option of its own (``--sdxl-refiner``, ``--s-cascade-decoder``)
with the URI arguments :func:`second_model_arguments` declares, and takes the shared
``--second-model-*`` options: its UNet, text encoders, original config, offloading and
scheduler. :class:`SecondModel` parses, checks, loads and caches it, with messages that name
its option and what it is; what the family does with it stays the family's.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, Literal

from dgenerate.plugin_api import (
    ArgSpec,
    Category,
    DgenerateError,
    Job,
    LoadTarget,
    RenderRequest,
)

from .compat import patch_text_encoders
from .components import UNetUri, check_unet_uri, parse_unet_uri, unet_key
from .devices import resolve_dtype
from .loading import disk_size, load_pipeline
from .model_type import offload_mode, original_scheduler, pipeline_class, place_pipeline
from .schedulers import build_scheduler, check_scheduler_uri, compatible_names
from .sources import ResolvedModel
from .text_encoders import (
    asks_help,
    describe_text_encoders,
    parse_text_encoders,
    text_encoder_components,
    text_encoders_key,
)

__all__ = ["HELP", "SECOND_OFFLOAD_FLAGS", "TEXT_ENCODERS_FLAG", "WEIGHTER_FLAG", "SecondModel",
           "SecondSource", "UNetLoader", "renamed", "second_model_arguments"]

WEIGHTER_FLAG = "--second-model-prompt-weighter"
SECOND_OFFLOAD_FLAGS = ("--second-model-cpu-offload", "--second-model-sequential-offload")
TEXT_ENCODERS_FLAG = "--second-model-text-encoders"
#: the scheduler names that ask for help instead of naming a scheduler
HELP = frozenset({"help", "helpargs"})


def second_model_arguments(what: str, variants: str = "fp16 ...") -> tuple[ArgSpec, ...]:
    """The URI arguments of a second model's option; ``what`` names it in the help."""
    return (
        ArgSpec(name="revision", type=str, default="main",
                help="the branch or tag of a Hugging Face repository"),
        ArgSpec(name="variant", type=str | None, default=None,
                help=f"the weights variant ({variants}); default --variant"),
        ArgSpec(name="subfolder", type=str | None, default=None,
                help=f"the folder of the {what} inside the repository or folder"),
        ArgSpec(name="dtype", type=Literal["auto", "bfloat16", "float16", "float32"] | None,
                default=None, help="the precision; default --dtype"),
    )


def renamed(error: DgenerateError, old: str, new: str, where: str) -> DgenerateError:
    """``error`` with the option it starts with named as the second model's: the shared
    checks speak of the main model's options."""
    message = str(error)
    if message.startswith(old):
        message = new + message[len(old):]
    return DgenerateError(f"{message} ({where})")


@dataclasses.dataclass(frozen=True)
class SecondSource:
    """A second model's option parsed: where the model is and how to load it."""

    path: str
    revision: str
    variant: str | None
    subfolder: str | None
    dtype: str
    given: frozenset[str]  # the URI arguments written in the URI


#: loads ``--second-model-unet`` for the second model: ``(uri, context, target)``
UNetLoader = Callable[[UNetUri, Any, LoadTarget], Any]


class SecondModel:
    """The second model of ``family``, given by the option ``flag`` (value ``name``).

    ``what`` ("refiner", "decoder") and ``model_type`` ("sdxl refiner") name it in messages
    and cache keys; ``pipeline`` is its diffusers pipeline class; ``--second-model-unet``
    becomes its ``unet_slot`` component through ``load_unet``; ``extra`` are more loading
    arguments and ``prepare`` runs before loading.
    """

    def __init__(self, family: Any, *, name: str, flag: str, what: str, model_type: str,
                 pipeline: str, arguments: tuple[ArgSpec, ...], unet_slot: str,
                 load_unet: UNetLoader, extra: Mapping[str, Any] | None = None,
                 prepare: Callable[[], None] | None = None) -> None:
        self.family, self.name, self.flag, self.what = family, name, flag, what
        self.model_type, self.pipeline_name, self.arguments = model_type, pipeline, arguments
        self.unet_slot, self.load_unet, self.prepare = unet_slot, load_unet, prepare
        self.extra = dict(extra or {})
        self._source: SecondSource | None = None
        self._model: ResolvedModel | None = None
        self._weighters: dict[str, Any] = {}

    # ------------------------------------------------------------ what it is

    def source(self) -> SecondSource:
        """The option with its URI arguments checked (a clear error names them)."""
        if self._source is None:
            main = self.family.source
            path, arguments = self.family.context.parse_uri(main.values[self.name],
                                                            self.arguments, owner=self.flag)
            self._source = SecondSource(
                path=path, revision=arguments.get("revision", "main"),
                variant=arguments.get("variant", main.variant),
                subfolder=arguments.get("subfolder"),
                dtype=arguments.get("dtype") or main.dtype, given=frozenset(arguments))
        return self._source

    @property
    def model(self) -> ResolvedModel:
        if self._model is None:
            try:
                self._model = self.family.resolve(self.source().path)
            except DgenerateError as error:
                raise DgenerateError(f"{self.flag}: {error}") from error
        return self._model

    @property
    def dtype(self) -> Any:
        return resolve_dtype(self.source().dtype, self.family.device)

    def unet(self) -> UNetUri | None:
        """``--second-model-unet``: the UNet it takes instead of its own."""
        text = self.family.source.values.get("second_model_unet")
        return None if text is None else parse_unet_uri(text, self.family.context,
                                                        option="--second-model-unet")

    def text_encoders(self) -> list[Any] | None:
        """``--second-model-text-encoders``, parsed (None when not given, or help)."""
        return parse_text_encoders(self.family.source.values.get("second_model_text_encoders"),
                                   self.family.context, option=TEXT_ENCODERS_FLAG)

    def offload(self) -> Any:
        return offload_mode(self.family.source.values, "second_model", SECOND_OFFLOAD_FLAGS)

    def target(self, cls: Any) -> LoadTarget:
        """What its sub-models load for: its variant and dtype are their default."""
        source, model, family = self.source(), self.model, self.family
        return LoadTarget(
            model_type=self.model_type, pipeline_class=cls, dtype=self.dtype,
            device=family.device, revision=source.revision,
            variant=source.variant if model.kind != "file" else None,
            token=family.source.auth_token, offline=family.context.offline_mode, model=model,
            subfolder=source.subfolder)

    # ------------------------------------------------------------------ checks

    def check(self, values: Mapping[str, Any]) -> None:
        """Refuse before anything loads what the second model cannot take."""
        self.source()
        self.text_encoders()
        unet = self.unet()
        if unet is not None:
            check_unet_uri(unet, self.family.context)
        offload_mode(values, "second_model", SECOND_OFFLOAD_FLAGS)
        uri = values.get("second_model_prompt_weighter")
        if uri is not None:
            self.weighter(uri)  # a bad URI or a family it cannot weigh fails before loading
        schedulers = [uri for uri in values.get("second_model_schedulers") or ()
                      if uri is not None]
        if set(schedulers) & HELP and len(schedulers) > 1:
            raise DgenerateError("--second-model-schedulers: help and helpargs must be given "
                                 "alone")
        for uri in schedulers:
            if uri not in HELP:
                try:
                    check_scheduler_uri(uri, self.family.context)
                except DgenerateError as error:
                    raise renamed(error, "--schedulers", "--second-model-schedulers",
                                  f"the {self.what}'s scheduler") from None

    def help_text(self, request: RenderRequest) -> str | None:
        """``--second-model-text-encoders help`` and ``--second-model-schedulers help`` /
        ``helpargs`` about the second model; None when neither is asked."""
        values = request.values
        if asks_help(values.get("second_model_text_encoders")):
            if asks_help(values.get("text_encoders")):
                raise DgenerateError(f"--text-encoders help and {TEXT_ENCODERS_FLAG} help "
                                     "cannot be given together")
            return describe_text_encoders(self.target(pipeline_class(self.pipeline_name)))
        asked = (values.get("second_model_schedulers") or (None,))[0]
        if asked not in HELP:
            return None
        cls, config = original_scheduler(self.pipeline())
        names = compatible_names(cls.from_config(config), extra=self.family.extra_schedulers)
        return self.family.describe_schedulers(str(values[self.name]), names=names,
                                               arguments=asked == "helpargs")

    # ----------------------------------------------------------------- loading

    def key(self) -> tuple[Hashable, ...]:
        source, model, values = self.source(), self.model, self.family.source.values
        unet = self.unet()
        return (self.model_type, model.kind, model.location, source.revision, source.variant,
                source.subfolder, str(self.dtype), self.family.device,
                values.get("second_model_original_config"), self.offload(),
                None if unet is None else unet_key(unet),
                text_encoders_key(self.text_encoders()))

    def load(self) -> Any:
        family, source, model = self.family, self.source(), self.model
        values, context = family.source.values, family.context
        original_config = values.get("second_model_original_config")
        if model.kind == "file":
            given = sorted(source.given & {"revision", "variant", "subfolder"})
            if given:
                raise DgenerateError(
                    f"{self.flag} {values[self.name]!r}: a single-file "
                    f"checkpoint takes only the dtype argument, not {', '.join(given)}")
        elif original_config is not None:
            raise DgenerateError("--second-model-original-config applies to a single-file "
                                 f"{self.what} checkpoint; {source.path!r} is not one")
        if self.prepare is not None:
            self.prepare()
        cls = pipeline_class(self.pipeline_name)
        target = self.target(cls)
        extra = dict(self.extra)
        unet = self.unet()
        if unet is not None:
            # the second model's UNet URI defaults to its variant and dtype
            extra[self.unet_slot] = self.load_unet(unet, context, target)
        extra.update(text_encoder_components(self.text_encoders(), context, target,
                                             option=TEXT_ENCODERS_FLAG))
        try:
            pipeline = load_pipeline(
                cls, model, dtype=target.dtype, revision=source.revision,
                variant=target.variant, subfolder=source.subfolder, token=target.token,
                offline=context.offline_mode, original_config=original_config, extra=extra,
                debug=context.debug)
        except DgenerateError as error:
            raise DgenerateError(f"{self.flag}: {error}") from error
        patch_text_encoders(pipeline)
        original_scheduler(pipeline)
        return place_pipeline(pipeline, family.device, self.offload(), debug=context.debug,
                              flag="--second-model-cpu-offload")

    def pipeline(self) -> Any:
        """The second model's pipeline, from the kernel's ``pipeline`` cache."""
        return self.family.context.cache("pipeline").get_or_create(
            self.key(), self.load, size=disk_size(self.model),
            device="cpu" if self.offload() else self.family.device)

    # ---------------------------------------------------------------- running

    def job(self, job: Job, *, steps: int, guidance: float, **changes: Any) -> Job:
        """The job as the second model runs it: ``--second-model-inference-steps``,
        ``-guidance-scales`` and ``-schedulers``, or ``steps``, ``guidance`` and the job's
        scheduler."""
        values = job.values
        given = values.get("second_model_guidance_scales")
        return dataclasses.replace(
            job, inference_steps=values.get("second_model_inference_steps") or steps,
            guidance_scale=guidance if given is None else given,
            scheduler=values.get("second_model_schedulers") or job.scheduler, **changes)

    def scheduler(self, pipeline: Any, uri: str | None, values: Mapping[str, Any]) -> Any:
        """A fresh scheduler for ``pipeline``: its own, or the one ``uri`` names."""
        cls, config = original_scheduler(pipeline)
        fresh = cls.from_config(config)
        if uri is None:
            return fresh
        flag = ("--second-model-schedulers" if values.get("second_model_schedulers")
                else "--schedulers")
        try:
            return build_scheduler(uri, fresh, config, self.family.context,
                                   extra=self.family.extra_schedulers)
        except DgenerateError as error:
            raise renamed(error, "--schedulers", flag, f"the {self.what}'s scheduler") from None

    # ---------------------------------------------------------- prompt weighter

    def weighter_uri(self, job: Job) -> str | None:
        """``--second-model-prompt-weighter``, else the job's own weighter (``--prompt-weighter``
        or the prompt's ``<weighter: ...>``): the second model reads the same syntax."""
        return job.values.get("second_model_prompt_weighter") or job.prompt_weighter

    def weighter(self, uri: str) -> Any:
        """The prompt weighter ``uri`` names, created once per invocation for the family's
        model type (a weighter may refuse it) and device."""
        if uri not in self._weighters:
            family = self.family
            try:
                self._weighters[uri] = family.context.create(
                    Category.PROMPT_WEIGHTER, uri, model_type=family.name,
                    device=family.source.device)
            except DgenerateError as error:
                raise DgenerateError(f"{WEIGHTER_FLAG} (the {self.what}'s prompt weighter): "
                                  f"{error}") from None
        return self._weighters[uri]

    @contextlib.contextmanager
    def weighed(self, job: Job, pipeline: Any,
                arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The second model's call arguments with its prompts weighed (as they are without a
        weighter); the weighter cleans up after the call, also a failed one."""
        uri = self.weighter_uri(job)
        if uri is None:
            yield arguments
            return
        weighter = self.weighter(uri)
        try:
            yield weighter.translate(pipeline, arguments)
        finally:
            weighter.cleanup()
