"""A request against what its model type declares it can do, before anything loads."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.render import Mode

from ..imageseed import ImageSeed

__all__ = ["check_capabilities", "seed_mode"]

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


def check_capabilities(seeds: tuple[ImageSeed, ...], capabilities: Any,
                       model_type: str) -> None:
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
        mode = seed_mode(seed)
        if mode not in capabilities.modes and (seed.images or mode is Mode.TXT2IMG):
            raise DgenerateError(f"image seed {seed.text!r} asks for {mode}, which "
                                 f"--model-type {model_type} does not do (it does "
                                 f"{', '.join(modes)})")
