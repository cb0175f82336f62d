"""Morphological operations: dilation (OpenCV)."""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.values import Size

from .common import MAX_KERNEL_SIZE, argument_error, check_range, kernel_size, to_rgb

_SHAPES = {
    "rectangle": cv2.MORPH_RECT,
    "cross": cv2.MORPH_CROSS,
    "ellipse": cv2.MORPH_ELLIPSE,
}


def _check_reach(size: tuple[int, int], steps: int) -> None:
    """Bound the element all steps amount to: OpenCV merges the steps of a
    rectangle into one element of that size, and repeats other shapes, so
    either way time and memory grow with it."""
    reach = (max(size) - 1) * steps + 1
    if reach > MAX_KERNEL_SIZE:
        raise argument_error(
            "dilate", "steps", steps,
            f"together with size {size[0]}x{size[1]} must keep (size - 1) * steps + 1 at "
            f"most {MAX_KERNEL_SIZE} pixels (it would be {reach})")


class Dilate(ImageProcessor):
    """Grow the bright areas of the image (OpenCV dilate).

    Every pixel takes the largest value found under a structuring element
    centred on it, channel by channel. On an inpainting mask this widens the
    white (inpainted) area, so the edges of the masked object are covered too.
    The result is an RGB image of the same size.

    Arguments:

    - size (default 3): the size of the structuring element in pixels, one
      number for a square or WIDTHxHEIGHT, at most 1024. Each step grows
      bright areas by about half of it on each side.
    - steps (default 1): how many times the dilation is repeated, 1 to 1024.
      All steps together act like one element of (size - 1) * steps + 1
      pixels, which may be at most 1024 in each direction.
    - shape (default rectangle): the shape of the structuring element:
      rectangle, cross or ellipse.
    """

    def __init__(
        self, *,
        size: Annotated[int | Size, Arg(help="structuring element: N or WIDTHxHEIGHT")] = 3,
        steps: Annotated[int, Arg(help="how many times to dilate")] = 1,
        shape: Annotated[Literal["rectangle", "cross", "ellipse"],
                         Arg(help="shape of the structuring element")] = "rectangle",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.size = kernel_size("dilate", "size", size)
        check_range("dilate", "steps", steps, minimum=1, maximum=MAX_KERNEL_SIZE)
        _check_reach(self.size, steps)
        self.steps = steps
        if shape not in _SHAPES:
            raise argument_error("dilate", "shape", shape,
                                 "must be one of " + ", ".join(_SHAPES))
        self.shape = shape
        self.kernel = cv2.getStructuringElement(_SHAPES[shape], self.size)

    def process(self, image: Image.Image) -> Image.Image:
        pixels = np.asarray(to_rgb(image))
        dilated = cv2.dilate(pixels, self.kernel, iterations=self.steps)
        return Image.fromarray(dilated, "RGB")
