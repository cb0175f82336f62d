"""The job grid: every combination of the multi-valued options, expanded lazily.

Order, outermost first (the last varies fastest, and ``step`` counts in this
order from 1): image seed, scheduler, sigmas, prompt, seed, inference steps,
guidance scale, guidance rescale, image seed strength, clip skip. With
``--seeds-to-images`` each image seed gets one seed (``seeds[i % len(seeds)]``)
instead of all of them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

from dgenerate.plugin_api.values import Prompt

from ..imageseed import ImageSeed
from .plan import RenderPlan

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
    guidance_rescale: float | None
    strength: float | None
    clip_skip: int | None
    scheduler: str | None
    sigmas: str | None


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
    if image_seed is None or not image_seed.images:
        return (None,)
    return plan.request.image_seed_strengths


def expand_jobs(plan: RenderPlan) -> Iterator[JobTemplate]:
    """Yield the jobs one at a time, numbered from 1."""
    request = plan.request
    number = itertools.count(1)
    for index, image_seed in _image_seeds(plan):
        combinations = itertools.product(
            request.schedulers, request.sigmas, request.prompts, _seeds(plan, index),
            request.inference_steps, request.guidance_scales, request.guidance_rescales,
            _strengths(plan, image_seed), request.clip_skips)
        for (scheduler, sigmas, prompt, seed, steps, guidance, rescale, strength,
             clip_skip) in combinations:
            yield JobTemplate(
                number=next(number), image_seed_index=index, image_seed=image_seed,
                prompt=prompt, seed=seed, inference_steps=steps, guidance_scale=guidance,
                guidance_rescale=rescale, strength=strength, clip_skip=clip_skip,
                scheduler=scheduler, sigmas=sigmas)


def count_jobs(plan: RenderPlan) -> int:
    """How many jobs :func:`expand_jobs` yields, without expanding them."""
    request = plan.request
    common = (len(request.schedulers) * len(request.sigmas) * len(request.prompts)
              * len(request.inference_steps) * len(request.guidance_scales)
              * len(request.guidance_rescales) * len(request.clip_skips))
    total = 0
    for index, image_seed in _image_seeds(plan):
        total += common * len(_seeds(plan, index)) * len(_strengths(plan, image_seed))
    return total
