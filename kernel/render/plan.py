"""From parsed options to a checked :class:`RenderPlan`: every value converted, every
mistake reported with the option and the value, before any model loads."""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from dgenerate.plugin_api.diffusion.options import sigmas_text
from dgenerate.plugin_api.errors import DgenerateError, ValueSyntaxError
from dgenerate.plugin_api.prompts import parse_prompt
from dgenerate.plugin_api.render import Mode, ModelSource, RenderRequest
from dgenerate.plugin_api.values import (
    MAX_IMAGE_SIDE,
    Prompt,
    Size,
    int_in,
    parse_int,
    parse_size,
    split_chain_groups,
)

from ..imageseed import ImageSeed, parse_image_seed
from ..uri import parse_uri
from .capabilities import assign_image_inputs, seed_mode
from .declared import DeclaredOption, upscaler_dest
from .options import IMAGE_FORMATS, METADATA_FORMATS, TENSOR_FORMATS
from .prompting import check_prompts
from .values import (
    MAX_BATCH_SIZE,
    MAX_GEN_SEEDS,
    MAX_SEED,
    batch_size_value,
    declared_values,
    guidance_value,
    seed_value,
    steps_value,
    strength_value,
)

__all__ = ["OutputSettings", "RenderPlan", "SchedulerHelp", "build_plan"]

T = TypeVar("T")

_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")
#: random seeds are drawn below this (short enough to read and type)
_MAX_RANDOM_SEED = 99_999_999_999_999


class SchedulerHelp:
    NAMES = "help"
    ARGUMENTS = "helpargs"


ANIMATION_FORMATS = ("mp4", "gif", "webp", "apng", "png", "frames")


@dataclasses.dataclass(frozen=True)
class OutputSettings:
    path: str = "output"
    prefix: str | None = None
    overwrite: bool = False
    image_format: str = "png"
    configs: bool = False
    metadata: bool = False
    auto1111_metadata: bool = False
    grid: Size | None = None  # columns x rows
    animation_format: str = "mp4"  # or "frames": frame images only
    no_frames: bool = False
    skip_existing: bool = False


@dataclasses.dataclass(frozen=True)
class RenderPlan:
    """Everything one invocation renders, checked; the grid of jobs comes from it."""

    request: RenderRequest
    image_seeds: tuple[ImageSeed, ...] = ()
    seed_processors: tuple[tuple[str, ...], ...] = ()
    mask_processors: tuple[tuple[str, ...], ...] = ()
    control_processors: tuple[tuple[str, ...], ...] = ()
    post_processors: tuple[str, ...] = ()
    output: OutputSettings = OutputSettings()
    dry_run: bool = False
    scheduler_help: str | None = None
    verbose: bool = False
    frame_start: int | None = None
    frame_end: int | None = None
    declared: tuple[DeclaredOption, ...] = ()
    capabilities: Any = None  # of the model type (plugin_api Capabilities)
    job_executor: str = "local"
    given: frozenset[str] = frozenset()  # names of the declared options given
    #: plugins loaded by path or module name that a written config must load again
    replay_plugins: tuple[str, ...] = ()
    #: --prompt-upscaler, and (option name, its own upscaler chain) for prompt options
    prompt_upscalers: tuple[str, ...] = ()
    option_upscalers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the parsed options and the options plugins added the argparse way, which a worker
    #: process of a distributed job executor parses again
    options: Any = None
    plugin_dests: tuple[str, ...] = ()

    @property
    def axes(self) -> list[DeclaredOption]:
        """The declared axes that apply, in grid order (by name position)."""
        values = self.request.values
        return sorted((option for option in self.declared
                       if option.spec.axis and option.spec.name in values),
                      key=lambda option: option.spec.position)


def _error(option: str, message: str) -> DgenerateError:
    return DgenerateError(f"{option}: {message}")


def _each(option: str, values: Sequence[str] | None, convert: Callable[[str], T],
          default: tuple[T, ...]) -> tuple[T, ...]:
    if not values:
        return default
    result = []
    for value in values:
        try:
            result.append(convert(value))
        except (ValueSyntaxError, ValueError) as error:
            detail = str(error) if isinstance(error, ValueSyntaxError) else ""
            raise _error(option, detail or f"{value!r} is not valid") from None
    return tuple(result)


def _seeds(options: argparse.Namespace, batch_size: int) -> tuple[int, ...]:
    if options.seeds and options.gen_seeds is not None:
        raise DgenerateError("--seeds and --gen-seeds cannot be used together: give the seeds, "
                             "or the number of random seeds to generate")
    if options.gen_seeds is not None:
        count = _each("--gen-seeds", [options.gen_seeds], int_in(1, MAX_GEN_SEEDS), ())[0]
        generator = random.SystemRandom()
        return tuple(generator.randint(0, _MAX_RANDOM_SEED) for _ in range(count))
    if options.seeds:
        seeds = _each("--seeds", options.seeds, seed_value, ())
        for seed in seeds:  # batch item i of seed s uses s + i, which must be 64-bit too
            if seed + batch_size - 1 > MAX_SEED:
                raise _error("--seeds", f"{seed} with --batch-size {batch_size} needs seeds up "
                                        f"to {seed + batch_size - 1}, above the 64-bit limit "
                                        f"of {MAX_SEED}")
        return seeds
    return (random.SystemRandom().randint(0, _MAX_RANDOM_SEED),)


def _output_prefix(prefix: str | None) -> str | None:
    """A prefix is part of a file name: it may not lead out of the output folder."""
    if prefix is None:
        return None
    if any(character in prefix for character in "/\\\0") or (prefix.strip() in (".", "..")):
        raise _error("--output-prefix", f"{prefix!r} is not a file name part: it may not "
                                        "contain / or \\ (or be . or ..); choose the folder "
                                        "with --output-path")
    return prefix


def _processors(option: str, values: Sequence[str] | None) -> tuple[tuple[str, ...], ...]:
    if not values:
        return ()
    groups = split_chain_groups(values)
    for group in groups:
        for uri in group:
            try:
                parse_uri(uri)
            except DgenerateError as error:
                raise _error(option, str(error)) from None
    return tuple(tuple(group) for group in groups)


def _post_processors(values: Sequence[str] | None) -> tuple[str, ...]:
    groups = _processors("--post-processors", values)
    if len(groups) > 1:
        raise _error("--post-processors", "'+' separates chains for several input images; "
                                          "post-processors form one chain for every output")
    return groups[0] if groups else ()


def _output(options: argparse.Namespace, batch_size: int) -> OutputSettings:
    image_format = options.image_format.lower().lstrip(".")
    tensors = image_format in TENSOR_FORMATS
    if image_format not in (*IMAGE_FORMATS, *TENSOR_FORMATS):
        raise _error("--image-format", f"unknown format {options.image_format!r}; use one of "
                                       f"{', '.join((*IMAGE_FORMATS, *TENSOR_FORMATS))}")
    for flag in ("--batch-grid-size", "--post-processors") if tensors else ():
        if getattr(options, flag[2:].replace("-", "_")) is not None:
            raise _error(flag, f"--image-format {image_format} writes latents; {flag} works on "
                               "images")
    if options.output_metadata and options.output_auto1111_metadata:
        raise DgenerateError("--output-metadata and --output-auto1111-metadata cannot be used "
                             "together: an image holds one kind of metadata")
    if (options.output_metadata or options.output_auto1111_metadata) and (
            image_format not in METADATA_FORMATS):
        flag = "--output-metadata" if options.output_metadata else "--output-auto1111-metadata"
        raise _error(flag, f"the image format {image_format!r} cannot carry metadata; use "
                           f"{', '.join(METADATA_FORMATS)}")
    grid = None
    if options.batch_grid_size is not None:
        try:
            grid = parse_size(options.batch_grid_size, what="grid size", maximum=MAX_BATCH_SIZE)
        except ValueSyntaxError as error:
            raise _error("--batch-grid-size", str(error)) from None
        if grid.width * grid.height < batch_size:
            raise _error("--batch-grid-size", f"a {grid.width}x{grid.height} grid cannot hold a "
                                              f"batch of {batch_size} images")
    animation_format = options.animation_format.lower().lstrip(".")
    if animation_format not in ANIMATION_FORMATS:
        raise _error("--animation-format", f"unknown format {options.animation_format!r}; use "
                                           f"one of {', '.join(ANIMATION_FORMATS)}")
    if options.no_frames and animation_format == "frames":
        raise DgenerateError("--no-frames cannot be used with --animation-format frames: "
                             "nothing would be written")
    if options.skip_existing and options.output_overwrite:
        raise DgenerateError("--skip-existing and --output-overwrite cannot be used together: "
                             "keep the files that exist, or replace them")
    if options.skip_existing and not options.seeds:
        raise DgenerateError("--skip-existing needs --seeds: random seeds give other file names "
                             "on every run, so nothing would be skipped")
    return OutputSettings(
        path=options.output_path, prefix=_output_prefix(options.output_prefix),
        overwrite=options.output_overwrite, image_format=image_format,
        configs=options.output_configs, metadata=options.output_metadata,
        auto1111_metadata=options.output_auto1111_metadata, grid=grid,
        # latents of animation frames are written one file per frame
        animation_format="frames" if tensors else animation_format, no_frames=options.no_frames,
        skip_existing=options.skip_existing)


def _frame(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_int(value, what="frame number", minimum=0)
    except ValueSyntaxError as error:
        raise _error(option, str(error)) from None


def _scheduler_help(values: Sequence[str] | None) -> str | None:
    if not values:
        return None
    special = [value for value in values if value.strip().lower() in (
        SchedulerHelp.NAMES, SchedulerHelp.ARGUMENTS)]
    if special and len(values) > 1:
        raise _error("--schedulers", f"{special[0]!r} must be given alone")
    return special[0].strip().lower() if special else None


def _uri(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_uri(value)
    except DgenerateError as error:
        raise _error(option, str(error)) from None
    return value


def _schedulers(values: Sequence[str] | None) -> tuple[str | None, ...]:
    if not values:
        return (None,)
    for value in values:
        try:
            parse_uri(value)
        except DgenerateError as error:
            raise _error("--schedulers", str(error)) from None
    return tuple(values)


def _model_type(options: argparse.Namespace, model_types: Any) -> Any:
    """The spec of ``--model-type``, or of the model type marked as the default."""
    if options.model_type is not None:
        return model_types.get(options.model_type)
    defaults = [spec for spec in model_types.specs(include_hidden=True) if spec.default]
    if len(defaults) != 1:
        named = " and ".join(f"{spec.name!r} ({spec.provider.describe()})" for spec in defaults)
        raise DgenerateError("give --model-type: " + (
            f"{named} both claim to be the default" if defaults else
            "no installed model type is the default"))
    return defaults[0]


def _replay_plugins(spec: Any, declared: Sequence[DeclaredOption],
                    options: argparse.Namespace) -> tuple[str, ...]:
    """The plugins not installed (given by path or module name) that the model type and the
    options given come from: a written config loads them with \\import_plugins."""
    providers = [spec.provider, *(option.provider for option in declared
                                  if getattr(options, option.spec.name, None) is not None)]
    return tuple(dict.fromkeys(provider.location for provider in providers if provider
                               and provider.origin in ("path", "module") and provider.location))


def _image_takers(declared: Sequence[DeclaredOption], values: Mapping[str, Any],
                  model_type: str) -> tuple[list[tuple[str, str, int]], dict[str, list[str]]]:
    """The options given whose values take image-seed inputs (part, flag, count), and the
    flags of all such options that apply to ``model_type``, by part."""
    given, known = [], {}
    for option in declared:
        spec, value = option.spec, values.get(option.spec.name)
        if option.image_input and model_type in (spec.model_types or (model_type,)):
            known.setdefault(option.image_input, []).append(spec.flag)
            if value is not None:
                given.append((option.image_input, spec.flag,
                              len(value) if isinstance(value, (tuple, list)) else 1))
    return given, known


def build_plan(options: argparse.Namespace, *, model_types: Any,
               declared: Sequence[DeclaredOption] = (), plugin_dests: Sequence[str] = (),
               verbose: bool = False) -> RenderPlan:
    """Convert and check every render option; raises :class:`DgenerateError` on any problem.

    ``model_types`` is the model type registry; ``declared`` the options plugins declared,
    ``plugin_dests`` those they added the argparse way."""
    spec = _model_type(options, model_types)
    values = declared_values(options, declared, spec.name, plugin_dests)
    singles = {option.spec.name: values[option.spec.name] for option in declared
               if not option.spec.axis}
    singles.update((dest, values[dest]) for dest in plugin_dests)
    if options.device is not None and not _DEVICE.match(options.device):
        raise _error("--device", f"{options.device!r} is not cpu, cuda, cuda:N, mps, xpu or "
                                 "xpu:N")
    source = ModelSource(
        path=options.model_path, model_type=spec.name, revision=options.revision,
        variant=options.variant, subfolder=options.subfolder,
        auth_token=options.auth_token, dtype=options.dtype, device=options.device or "auto",
        quantizer=_uri("--quantizer", options.quantizer), values=singles)

    batch_size = _each("--batch-size", [options.batch_size] if options.batch_size else None,
                       batch_size_value, (1,))[0]
    output_size = None
    if options.output_size is not None:
        try:
            output_size = parse_size(options.output_size, align=8, what="output size",
                                     maximum=MAX_IMAGE_SIDE)
        except ValueSyntaxError as error:
            raise _error("--output-size", str(error)) from None
    image_seeds = assign_image_inputs(
        _each("--image-seeds", options.image_seeds, parse_image_seed, ()),
        *_image_takers(declared, values, spec.name))
    scheduler_help = _scheduler_help(options.schedulers)

    request = RenderRequest(
        source=source,
        prompts=_each("--prompts", options.prompts, parse_prompt, (Prompt(""),)),
        seeds=_seeds(options, batch_size),
        seeds_to_images=options.seeds_to_images,
        inference_steps=_each("--inference-steps", options.inference_steps, steps_value, (30,)),
        guidance_scales=_each("--guidance-scales", options.guidance_scales,
                              guidance_value, (5.0,)),
        image_seed_strengths=_each("--image-seed-strengths", options.image_seed_strengths,
                                   strength_value,
                                   (0.8,)),
        schedulers=(None,) if scheduler_help else _schedulers(options.schedulers),
        sigmas=_each("--sigmas", options.sigmas, sigmas_text, (None,)),
        batch_size=batch_size,
        output_size=output_size,
        no_aspect=options.no_aspect,
        uses_image_seeds=bool(image_seeds),
        modes=frozenset(seed_mode(seed) for seed in image_seeds) or frozenset({Mode.TXT2IMG}),
        values=values,
        prompt_weighter=_uri("--prompt-weighter", options.prompt_weighter_uri),
        latents_output=options.image_format.lower().lstrip(".") in TENSOR_FORMATS,
    )
    if request.latents_output and "latents" not in spec.capabilities.inputs:
        raise _error("--image-format", f"--model-type {spec.name} does not write latents "
                                       f"({options.image_format}); use an image format")
    frame_start = _frame(options.frame_start, "--frame-start")
    frame_end = _frame(options.frame_end, "--frame-end")
    if frame_start is not None and frame_end is not None and frame_start > frame_end:
        raise DgenerateError(f"--frame-start {frame_start} is after --frame-end {frame_end}")
    if options.seeds_to_images and not image_seeds:
        raise DgenerateError("--seeds-to-images needs --image-seeds: it gives each image seed "
                             "its own seed")
    if options.image_seed_strengths and not image_seeds:
        raise DgenerateError("--image-seed-strengths needs --image-seeds (img2img or inpaint "
                             "inputs)")
    if options.image_seed_strengths and not spec.capabilities.strength:
        raise DgenerateError(f"--image-seed-strengths does not apply to --model-type "
                             f"{spec.name}: it does not take a strength")
    plan = RenderPlan(
        request=request, options=options, plugin_dests=tuple(plugin_dests),
        image_seeds=image_seeds,
        seed_processors=_processors("--seed-image-processors", options.seed_image_processors),
        mask_processors=_processors("--mask-image-processors", options.mask_image_processors),
        control_processors=_processors("--control-image-processors",
                                       options.control_image_processors),
        post_processors=_post_processors(options.post_processors),
        output=_output(options, batch_size),
        frame_start=frame_start,
        frame_end=frame_end,
        dry_run=options.dry_run,
        scheduler_help=scheduler_help,
        verbose=verbose,
        declared=tuple(declared),
        capabilities=spec.capabilities,
        job_executor=_uri("--job-executor", options.job_executor) or "local",
        given=frozenset(option.spec.name for option in declared
                        if getattr(options, option.spec.name, None) is not None),
        replay_plugins=_replay_plugins(spec, declared, options),
        prompt_upscalers=tuple(_uri("--prompt-upscaler", uri)
                               for uri in options.prompt_upscaler_uri or ()),
        option_upscalers=tuple(
            (option.spec.name, tuple(_uri(option.spec.upscaler[-1], uri) for uri in getattr(
                options, upscaler_dest(option.spec), None) or ()))
            for option in declared if option.spec.upscaler),
    )
    check_prompts(plan)
    return plan
