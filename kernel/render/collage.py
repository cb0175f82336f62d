"""Putting a batch into one grid image (``--batch-grid-size COLUMNSxROWS``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["make_grid"]


def make_grid(images: Sequence[Image], columns: int, rows: int) -> Image:
    """Row by row, left to right; cells are the size of the first image."""
    from PIL import Image as ImageModule

    width, height = images[0].size
    grid = ImageModule.new("RGB", (columns * width, rows * height))
    for index, image in enumerate(images[: columns * rows]):
        row, column = divmod(index, columns)
        grid.paste(image.convert("RGB"), (column * width, row * height))
    return grid
