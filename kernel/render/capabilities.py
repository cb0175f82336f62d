"""A request against what its model type declares it can do, before anything loads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.render import Mode

from ..imageseed import ImageSeed, is_tensor_file

__all__ = ["assign_image_inputs", "check_capabilities", "seed_mode"]

# the image-seed parts by their capability name, with how users write them
_PARTS = (
    ("mask", "masks", "an inpaint mask"),
    ("control", "control", "control images (control=)"),
    ("adapter", "adapters", "IP adapter images (adapter:, adapter=)"),
    ("latents", "latents", "latents inputs (latents:, latents=)"),
    ("floyd", "floyd", "a DeepFloyd stage image (floyd=)"),
)


def seed_mode(seed: ImageSeed | None) -> Mode:
    if seed is None or not seed.images:
        return Mode.TXT2IMG
    return Mode.INPAINT if seed.masks else Mode.IMG2IMG


def check_capabilities(seeds: tuple[ImageSeed, ...], capabilities: Any, model_type: str) -> None:
    """Every mode the request needs and every image-seed part it uses is one the model
    type declares; the error names the image seed and the model type."""
    modes = sorted(capabilities.modes)
    if not seeds and Mode.TXT2IMG not in capabilities.modes:
        raise DgenerateError(f"--model-type {model_type} does not do txt2img: give "
                             f"--image-seeds (it does {', '.join(modes)})")
    for seed in seeds:
        for name, field, what in _PARTS:
            if getattr(seed, field) and name not in capabilities.inputs:
                raise DgenerateError(f"image seed {seed.text!r}: --model-type {model_type} "
                                     f"does not take {what}")
        tensors = [path for path in seed.images if is_tensor_file(path)]
        if tensors and "latents" not in capabilities.inputs:
            raise DgenerateError(f"image seed {seed.text!r}: --model-type {model_type} does "
                                 f"not take latents tensor files ({tensors[0]!r})")
        mode = seed_mode(seed)
        if mode not in capabilities.modes and (seed.images or mode is Mode.TXT2IMG):
            raise DgenerateError(f"image seed {seed.text!r} asks for {mode}, which "
                                 f"--model-type {model_type} does not do (it does "
                                 f"{', '.join(modes)})")


_WHAT = {"control": "control images", "adapter": "IP adapter image groups"}


def assign_image_inputs(seeds: tuple[ImageSeed, ...], given: Sequence[tuple[str, str, int]],
                        known: Mapping[str, Sequence[str]]) -> tuple[ImageSeed, ...]:
    """The image seeds with their control and adapter images matched to the sub-models
    taking them. ``given`` lists (part, flag, models) of the options given whose values
    each take one input of that part; ``known`` the flags of every such option that
    applies. Once one taking control images is given, the short form's images are its
    control images (``control.png``, ``a.png, b.png``)."""
    assigned = []
    for seed in seeds:
        if any(part == "control" for part, _, _ in given) and seed.images and not (
                seed.control or seed.masks or seed.batched or seed.latents):
            seed = dataclasses.replace(seed, images=(), control=seed.images)
        if len(seed.images) > 1 and not seed.batched:
            raise DgenerateError(f"image seed {seed.text!r}: several images before ';' are "
                                 "control images, for "
                                 f"{' or '.join(known.get('control', ())) or 'a model taking them'}"
                                 "; use the images: prefix to batch img2img inputs")
        for part, count in (("control", len(seed.control)), ("adapter", len(seed.adapters))):
            takers = [(flag, models) for taken, flag, models in given if taken == part]
            if count and not takers and known.get(part):
                raise DgenerateError(f"image seed {seed.text!r} gives {_WHAT[part]}, which "
                                     f"need {' or '.join(known[part])}")
            for flag, models in (taker for taker in takers if taker[1] != count):
                raise DgenerateError(f"image seed {seed.text!r} gives {count} {_WHAT[part]} "
                                     f"for the {models} model{'s' if models != 1 else ''} of "
                                     f"{flag}: give one per model")
        assigned.append(seed)
    for part, flag, _ in given[:1] if not seeds else ():
        raise DgenerateError(f"{flag} needs {_WHAT[part]} from --image-seeds")
    return tuple(assigned)
