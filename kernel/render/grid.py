"""The job grid: every combination of the multi-valued options, expanded lazily.

Order, outermost first (the last varies fastest, and ``step`` counts in this
order from 1): image seed, scheduler, sigmas, prompt, seed, inference steps,
guidance scale, image seed strength, then the axes plugins declare, ordered by
their file-name position (guidance rescale, clip skip ...; see
``plugin_api.NAME_POSITIONS``). With ``--seeds-to-images`` each image seed gets
one seed (``seeds[i % len(seeds)]``) instead of all of them. A prompt that sets a
value (``<inference-steps: 50> ...``) tries only that value on that axis.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from dgenerate.plugin_api.values import Prompt

from ..imageseed import ImageSeed
from .plan import RenderPlan
from .prompting import prompt_settings

__all__ = ["JobTemplate", "count_jobs", "expand_jobs"]


@dataclasses.dataclass(frozen=True)
class JobTemplate:
    """A job before its input images are loaded."""

    number: int
    image_seed_index: int | None
    image_seed: ImageSeed | None
    prompt: Prompt
    seed: int
    inference_steps: int
    guidance_scale: float
    strength: float | None
    scheduler: str | None
    sigmas: str | None
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: set by the prompt (<width: ...>, <batch-size: ...>, <weighter: ...>), else None:
    #: the invocation's
    width: int | None = None
    height: int | None = None
    batch_size: int | None = None
    prompt_weighter: str | None = None


def _image_seeds(plan: RenderPlan) -> list[tuple[int | None, ImageSeed | None]]:
    if not plan.image_seeds:
        return [(None, None)]
    return list(enumerate(plan.image_seeds))


def _seeds(plan: RenderPlan, index: int | None) -> tuple[int, ...]:
    seeds = plan.request.seeds
    if plan.request.seeds_to_images and index is not None:
        return (seeds[index % len(seeds)],)
    return seeds


def _strengths(plan: RenderPlan, image_seed: ImageSeed | None) -> tuple[float | None, ...]:
    if image_seed is None or not image_seed.images or not (
            plan.capabilities is None or plan.capabilities.strength):
        return (None,)
    return plan.request.image_seed_strengths


def _declared(plan: RenderPlan) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The names and value lists of the declared axes, in grid order."""
    values = plan.request.values
    names = [option.spec.name for option in plan.axes]
    return names, [values[name] for name in names]


#: the JobTemplate fields that are grid axes, by their position in the product
_AXIS_FIELDS = ("scheduler", "sigmas", "prompt", "seed", "inference_steps", "guidance_scale",
                "strength")


def expand_jobs(plan: RenderPlan) -> Iterator[JobTemplate]:
    """Yield the jobs one at a time, numbered from 1."""
    request = plan.request
    number = itertools.count(1)
    names, axes = _declared(plan)
    fixed = {name: value for name, value in request.values.items() if name not in names}
    settings = {prompt: prompt_settings(prompt, plan) for prompt in request.prompts}
    for index, image_seed in _image_seeds(plan):
        lists = [request.schedulers, request.sigmas, request.prompts, _seeds(plan, index),
                 request.inference_steps, request.guidance_scales,
                 _strengths(plan, image_seed), *axes]
        for combination in itertools.product(*(list(enumerate(axis)) for axis in lists)):
            chosen = [value for _, value in combination]
            prompt = settings[chosen[2]]
            # a value the prompt sets replaces its axis: the axis' first value stands for it
            fields = dict(prompt.fields)
            overridden = [_AXIS_FIELDS.index(field) for field in fields if field in _AXIS_FIELDS]
            overridden += [len(_AXIS_FIELDS) + names.index(name) for name in prompt.values
                           if name in names]
            if any(combination[position][0] for position in overridden):
                continue
            axis_values = dict(zip(_AXIS_FIELDS, chosen, strict=False))
            axis_values.update((field, value) for field, value in fields.items()
                               if field in _AXIS_FIELDS)
            yield JobTemplate(
                number=next(number), image_seed_index=index, image_seed=image_seed,
                **{**axis_values, "prompt": prompt.prompt},
                values={**fixed, **dict(zip(names, chosen[len(_AXIS_FIELDS):], strict=True)),
                        **prompt.values},
                prompt_weighter=fields.get("prompt_weighter", request.prompt_weighter),
                **{field: fields.get(field) for field in ("width", "height", "batch_size")})


def count_jobs(plan: RenderPlan) -> int:
    """How many jobs :func:`expand_jobs` yields (without expanding them when no prompt
    sets a value)."""
    request = plan.request
    settings = [prompt_settings(prompt, plan) for prompt in request.prompts]
    if any(setting.fields or setting.values for setting in settings):
        return sum(1 for _ in expand_jobs(plan))
    common = (len(request.schedulers) * len(request.sigmas) * len(request.prompts)
              * len(request.inference_steps) * len(request.guidance_scales)
              * math.prod(len(axis) for axis in _declared(plan)[1]))
    total = 0
    for index, image_seed in _image_seeds(plan):
        total += common * len(_seeds(plan, index)) * len(_strengths(plan, image_seed))
    return total
