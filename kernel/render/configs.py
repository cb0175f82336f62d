"""Config scripts that render an output again, and A1111-style parameters.

``--output-configs`` writes one beside every image; ``--output-metadata`` puts
the same text in the image. The script holds one dgenerate invocation with
every value that affects the pixels fixed to what the job used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api.render import Job
from dgenerate.plugin_api.shell import config_word

from ..imageseed import without_frame_slice
from ..version import LANGUAGE_VERSION, VERSION
from .grid import JobTemplate
from .plan import RenderPlan

__all__ = ["auto1111_parameters", "job_config"]

def _option(name: str, *values: Any) -> str:
    return " ".join([name, *(config_word(value) for value in values)])


def _chains(groups: Sequence[Sequence[str]]) -> list[str]:
    values: list[str] = []
    for index, group in enumerate(groups):
        if index:
            values.append("+")
        values.extend(group)
    return values


def _declared(plan: RenderPlan, template: JobTemplate) -> list[str]:
    """The declared options that change the pixels, as the job used them: the ones given,
    and defaults that show in the file name."""
    lines = []
    for option in plan.declared:
        spec = option.spec
        value = template.values.get(spec.name)
        if not spec.reproduce or value is None or value is False or not (
                spec.name in plan.given or spec.token is not None):
            continue
        values = value if spec.several else (value,)
        lines.append(spec.flag if spec.switch else _option(spec.flag, *values))
    return lines


def job_config(plan: RenderPlan, template: JobTemplate, job: Job | None, *,
               frames: tuple[int, int] | None = None) -> str:
    """A config script rendering ``job`` again (all of its batch).

    ``frames`` pins the frame slice of an animated input: one frame for the
    config of a frame image, the whole slice for the config of an animation.
    """
    request = plan.request
    source = request.source
    lines = [config_word(source.path)]
    add = lines.append
    add(_option("--model-type", source.model_type))
    if source.revision != "main":
        add(_option("--revision", source.revision))
    for flag, value in (("--variant", source.variant), ("--subfolder", source.subfolder),
                        ("--quantizer", source.quantizer)):
        if value is not None:
            add(_option(flag, value))
    if source.dtype != "auto":
        add(_option("--dtype", source.dtype))
    if source.device != "auto":
        add(_option("--device", source.device))
    add(_option("--prompts", str(template.prompt)))
    add(_option("--seeds", template.seed))
    add(_option("--inference-steps", template.inference_steps))
    add(_option("--guidance-scales", template.guidance_scale))
    if template.scheduler is not None:
        add(_option("--schedulers", template.scheduler))
    if template.sigmas is not None:
        add(_option("--sigmas", template.sigmas))
    if template.image_seed is not None:
        seed_text = template.image_seed.text
        if frames is not None:  # the pinned frames, not the seed's own slice
            seed_text = without_frame_slice(seed_text)
        add(_option("--image-seeds", seed_text))
        if template.strength is not None:
            add(_option("--image-seed-strengths", template.strength))
        if frames is not None:
            add(_option("--frame-start", frames[0]))
            add(_option("--frame-end", frames[1]))
            if frames[0] != frames[1] and plan.output.animation_format != "mp4":
                add(_option("--animation-format", plan.output.animation_format))
        if request.output_size is not None:
            add(_option("--output-size", request.output_size))
        if request.no_aspect:
            add("--no-aspect")
        if plan.seed_processors:
            add(_option("--seed-image-processors", *_chains(plan.seed_processors)))
        if plan.mask_processors:
            add(_option("--mask-image-processors", *_chains(plan.mask_processors)))
        if plan.control_processors:
            add(_option("--control-image-processors", *_chains(plan.control_processors)))
    elif job is not None:
        add(_option("--output-size", f"{job.width}x{job.height}"))
    if (template.batch_size or request.batch_size) > 1:
        add(_option("--batch-size", template.batch_size or request.batch_size))
    if plan.output.grid is not None:
        add(_option("--batch-grid-size", plan.output.grid))
    if plan.post_processors:
        add(_option("--post-processors", *plan.post_processors))
    if plan.output.image_format != "png":
        add(_option("--image-format", plan.output.image_format))
    if template.prompt_weighter is not None:
        add(_option("--prompt-weighter", template.prompt_weighter))
    lines.extend(_declared(plan, template))
    body = " \\\n".join(lines)
    if plan.replay_plugins:  # plugins it needs that are not installed
        body = _option("\\import_plugins", *plan.replay_plugins) + "\n" + body
    return f"#! /usr/bin/env dgenerate --file\n#! dgenerate {LANGUAGE_VERSION}\n\n{body}\n"


def auto1111_parameters(template: JobTemplate, size: tuple[int, int], seed: int,
                        info: dict[str, Any], model_name: str) -> str:
    """The ``parameters`` text Automatic1111 writes (and CivitAI reads)."""
    text = template.prompt.positive
    if template.prompt.negative:
        text += f"\nNegative prompt: {template.prompt.negative}"
    fields = [
        ("Steps", template.inference_steps),
        ("Sampler", info.get("sampler") or info.get("scheduler") or None),
        ("CFG scale", template.guidance_scale),
        ("Seed", seed),
        ("Size", f"{size[0]}x{size[1]}"),
        ("Model hash", info.get("model_hash")),
        ("Model", model_name),
        ("Denoising strength", template.strength),
        ("Clip skip", template.values.get("clip_skips")),
        ("Version", f"dgenerate {VERSION}"),
    ]
    return text + "\n" + ", ".join(f"{key}: {value}" for key, value in fields if value is not None)
