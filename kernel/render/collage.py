"""Putting a batch into one grid image (``--batch-grid-size COLUMNSxROWS``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.values import MAX_IMAGE_SIDE

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["make_grid"]


def make_grid(images: Sequence[Image], columns: int, rows: int) -> Image:
    """Row by row, left to right; cells are the size of the first image."""
    from PIL import Image as ImageModule

    width, height = images[0].size
    if columns * width > MAX_IMAGE_SIDE or rows * height > MAX_IMAGE_SIDE:
        raise DgenerateError(
            f"--batch-grid-size {columns}x{rows}: a grid of {width}x{height} images would be "
            f"{columns * width}x{rows * height} pixels, above the limit of {MAX_IMAGE_SIDE} "
            "pixels per side")
    grid = ImageModule.new("RGB", (columns * width, rows * height))
    for index, image in enumerate(images[: columns * rows]):
        row, column = divmod(index, columns)
        grid.paste(image.convert("RGB"), (column * width, row * height))
    return grid
