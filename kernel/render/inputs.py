"""Loading the images an image seed names: read, resize, process.

Image seeds are parsed completely (see :mod:`dgenerate.kernel.imageseed`); the
forms that need features not built yet fail here with a clear message.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.values import Size, check_chain_groups

from ..imageseed import ImageSeed, Resize, is_tensor_file

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["SeedInputs", "load_image_seed", "target_size"]

_VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")


@dataclasses.dataclass(frozen=True)
class SeedInputs:
    """The prepared inputs of one image seed: one image (and mask) per input."""

    images: tuple[Image, ...]
    masks: tuple[Image, ...] = ()

    @property
    def size(self) -> Size:
        return Size(*self.images[0].size)


def _not_yet(seed: ImageSeed, what: str) -> DgenerateError:
    return DgenerateError(f"image seed {seed.text!r}: {what} is not supported yet")


def check_supported(seed: ImageSeed) -> None:
    """Fail clearly for the image seed forms whose features are not built yet."""
    if seed.control:
        raise _not_yet(seed, "control images (control=, for ControlNets and T2I adapters)")
    if seed.adapters:
        raise _not_yet(seed, "IP adapter images (adapter:, adapter=)")
    if seed.latents:
        raise _not_yet(seed, "latents input (latents:, latents=)")
    if seed.floyd is not None:
        raise _not_yet(seed, "floyd= (DeepFloyd IF stage images)")
    if len(seed.images) > 1 and not seed.batched:
        raise _not_yet(seed, "several images without the images: prefix (control images for "
                             "ControlNets)")
    for path in (*seed.images, *seed.masks):
        if is_tensor_file(path):
            raise _not_yet(seed, f"the tensor file {path!r} as an input image (latents input)")
    if seed.frame_start is not None or seed.frame_end is not None:
        raise _not_yet(seed, "frame-start / frame-end (animated inputs)")


def _align_down(value: int, align: int) -> int:
    return max(align, (value // align) * align)


def target_size(original: Size, resize: Resize | None, *, aspect: bool, align: int) -> Size:
    """The size an input is resized to.

    Without ``resize`` the original size is aligned down to ``align``. With it,
    the width is fixed; the height follows the aspect ratio when ``aspect`` is
    true, else it is the given height (or the width, if only a width was given).
    """
    if resize is None:
        return Size(_align_down(original.width, align), _align_down(original.height, align))
    width = resize.width
    if aspect:
        height = max(1, math.floor(original.height * width / original.width + 0.5))
    else:
        height = resize.height if resize.height is not None else width
    return Size(_align_down(width, align), _align_down(height, align))


def _read(path: str, fetch: Callable[[str], str], seed: ImageSeed, what: str) -> Image:
    from PIL import Image, UnidentifiedImageError

    local = fetch(path) if path.lower().startswith(("http://", "https://")) else path
    if local.lower().endswith(_VIDEO_SUFFIXES):
        raise _not_yet(seed, f"the animated file {path!r} ({what}; animated inputs)")
    if not os.path.isfile(local):
        raise DgenerateError(f"image seed {seed.text!r}: the {what} {path!r} does not exist")
    try:
        with Image.open(local) as image:
            if getattr(image, "n_frames", 1) > 1:
                raise _not_yet(seed, f"the animated file {path!r} ({what}; animated inputs)")
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise DgenerateError(
            f"image seed {seed.text!r}: the {what} {path!r} cannot be read as an image "
            f"({error})") from None


def _process(images: Sequence[Image], groups: Sequence[Sequence[Any]],
             option: str) -> tuple[Image, ...]:
    if not groups:
        return tuple(images)
    check_chain_groups(groups, len(images), what=option)
    processed = list(images)
    for index, chain in enumerate(groups):
        for processor in chain:
            processed[index] = processor(processed[index])
    return tuple(processed)


def load_image_seed(
    seed: ImageSeed,
    *,
    output_size: Size | None,
    no_aspect: bool,
    fetch: Callable[[str], str],
    seed_processors: Sequence[Sequence[Any]] = (),
    mask_processors: Sequence[Sequence[Any]] = (),
) -> SeedInputs:
    """Read, resize and process the images and masks of one image seed.

    Processors are callables (``image -> image``), grouped one chain per input.
    """
    from PIL import Image

    check_supported(seed)
    resize = seed.resize or (Resize(*output_size) if output_size is not None else None)
    aspect = seed.aspect if seed.aspect is not None else not no_aspect
    align = seed.align or 8

    images = []
    for path in seed.images:
        image = _read(path, fetch, seed, "image")
        size = target_size(Size(*image.size), resize, aspect=aspect, align=align)
        images.append(image if image.size == size else
                      image.resize(size, Image.Resampling.LANCZOS))
    masks = []
    for index, path in enumerate(seed.masks):
        mask = _read(path, fetch, seed, "mask")
        size = images[min(index, len(images) - 1)].size
        masks.append(mask if mask.size == size else mask.resize(size, Image.Resampling.LANCZOS))

    processed = _process(images, seed_processors, "--seed-image-processors")
    processed_masks = _process(masks, mask_processors, "--mask-image-processors")
    sizes = {image.size for image in (*processed, *processed_masks)}
    if len(sizes) > 1:
        listed = ", ".join(f"{width}x{height}" for width, height in sorted(sizes))
        raise DgenerateError(
            f"image seed {seed.text!r}: the images and masks end up with different sizes "
            f"({listed}); give a size (resize=WxH;aspect=false or --output-size with "
            "--no-aspect) so that they match")
    return SeedInputs(processed, processed_masks)
