"""Running a spandrel model over an image in overlapping, feathered tiles.

The image is cut into square tiles of ``tile`` pixels, spread evenly along each
axis so that neighbours share at least ``overlap`` pixels; the last tile of a
row or column ends at the image border. When the model wants sizes that are a
multiple of some number (spandrel's ``size_requirements.multiple_of``), tiles
start on multiples of it too (see :func:`tile_starts`).

Each upscaled tile is weighted by a mask that is 1 in its middle and falls
linearly towards the sides it shares with a neighbour, over the width of the
overlap (scaled to the output). The result is the weighted sum divided by the
sum of the weights: inside an overlap the two tiles cross-fade, so the pixels
near a tile's inner border - the ones a convolutional network computes without
their full surroundings - count least. Sides on the image border keep full
weight, since the model sees the true border there anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["align_tile", "count_tiles", "is_out_of_memory", "tile_starts", "upscale_tensor"]


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` pixels, neighbours
    overlapping by at least ``overlap`` pixels; one tile when it covers everything.

    Every start is a multiple of ``multiple``: models with a ``multiple_of`` size
    requirement (pooling, attention windows) lay a grid over their input, and
    tiles on that grid see it as the whole image does. The last tile then may end
    short of ``tile`` pixels at the border; spandrel pads it there just as it pads
    the whole image. ``tile`` must be a multiple of ``multiple``.
    """
    if length <= tile:
        return [0]
    units = -(-length // multiple)  # ceil division
    size = max(1, tile // multiple)
    shared = min(-(-overlap // multiple), size - 1)
    count = -(-(units - size) // (size - shared)) + 1
    return [index * (units - size) // (count - 1) * multiple for index in range(count)]


def count_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> int:
    return (len(tile_starts(height, tile, overlap, multiple))
            * len(tile_starts(width, tile, overlap, multiple)))


def align_tile(tile: int, requirements: Any) -> int:
    """``tile`` rounded down to the model's ``multiple_of`` and raised to its ``minimum``
    (spandrel's size requirements), so no tile needs padding."""
    multiple = max(1, int(requirements.multiple_of))
    aligned = max(multiple, tile - tile % multiple)
    return max(aligned, int(requirements.minimum))


def _ramp(length: int, fade: int, fade_start: bool, fade_end: bool) -> torch.Tensor:
    weights = torch.ones(length)
    fade = min(fade, length // 2)
    if fade <= 0:
        return weights
    rising = torch.arange(1, fade + 1, dtype=torch.float32) / (fade + 1)  # never zero
    if fade_start:
        weights[:fade] = rising
    if fade_end:
        weights[length - fade:] = rising.flip(0)
    return weights


def _run(model: Any, patch: torch.Tensor, device: Any, dtype: torch.dtype) -> torch.Tensor:
    return model(patch.to(device=device, dtype=dtype)).to(device="cpu", dtype=torch.float32)


def upscale_tensor(model: Any, image: torch.Tensor, *, tile: int, overlap: int,
                   device: Any, dtype: torch.dtype, multiple: int = 1,
                   on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """Run the spandrel descriptor ``model`` on ``image`` ((1, C, H, W), float32, CPU,
    values 0..1) and return the result ((1, C', H*scale, W*scale), float32, CPU).

    With ``tile`` 0, or an image no larger than one tile, the image is processed
    whole; otherwise in tiles as the module describes, starting on multiples of
    ``multiple`` (see :func:`tile_starts`). The model must already be
    on ``device`` in ``dtype``. ``on_tile`` is called after each tile (progress).
    """
    _, _, height, width = image.shape
    if tile <= 0 or (height <= tile and width <= tile):
        result = _run(model, image, device, dtype)
        if on_tile is not None:
            on_tile()
        return result

    scale = model.scale
    rows = tile_starts(height, tile, overlap, multiple)
    columns = tile_starts(width, tile, overlap, multiple)
    total = weights = None
    for top in rows:
        tile_height = min(tile, height - top)
        for left in columns:
            tile_width = min(tile, width - left)
            patch = image[:, :, top:top + tile_height, left:left + tile_width]
            result = _run(model, patch, device, dtype)
            if total is None:
                total = torch.zeros(1, result.shape[1], height * scale, width * scale)
                weights = torch.zeros(1, 1, height * scale, width * scale)
            mask = (_ramp(tile_height * scale, overlap * scale,
                          top > 0, top + tile_height < height)[:, None]
                    * _ramp(tile_width * scale, overlap * scale,
                            left > 0, left + tile_width < width)[None, :])
            region = (slice(None), slice(None), slice(top * scale, (top + tile_height) * scale),
                      slice(left * scale, (left + tile_width) * scale))
            total[region] += result * mask
            weights[region] += mask
            if on_tile is not None:
                on_tile()
    return total / weights


def is_out_of_memory(error: BaseException) -> bool:
    """The device (or the host, for the CPU) could not allocate memory."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text)
