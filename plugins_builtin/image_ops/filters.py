"""Smoothing filters: Gaussian blur (OpenCV)."""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.values import Size, format_size

from .common import MAX_SIGMA, argument_error, check_range, kernel_size, to_rgb


class GaussianBlur(ImageProcessor):
    """Blur the image with a Gaussian kernel (OpenCV GaussianBlur).

    Often used on inpainting masks to soften their edges, so the generated
    content blends into its surroundings. The result is an RGB image of the
    same size.

    Arguments:

    - size (default 5): the kernel size in pixels, one number for a square
      kernel or WIDTHxHEIGHT; both sides must be odd, at most 1023.
      Larger kernels blur more.
    - sigma-x (default 0): the standard deviation of the kernel along x,
      0 to 128; 0 derives it from the kernel width.
    - sigma-y (default 0): the standard deviation along y, 0 to 128; 0 uses
      sigma-x, or derives it from the kernel height when that is 0 too.
    """

    def __init__(
        self, *,
        size: Annotated[int | Size, Arg(help="odd kernel size: N or WIDTHxHEIGHT")] = 5,
        sigma_x: Annotated[float, Arg(help="deviation along x; 0 derives it from size")] = 0.0,
        sigma_y: Annotated[float, Arg(help="deviation along y; 0 uses sigma-x")] = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.size = kernel_size("gaussian-blur", "size", size)
        if self.size[0] % 2 == 0 or self.size[1] % 2 == 0:
            given = size if isinstance(size, int) else format_size(self.size)
            raise argument_error("gaussian-blur", "size", given,
                                 "must be odd in each direction (3, 5, 9, 5x9 ...)")
        check_range("gaussian-blur", "sigma-x", sigma_x, minimum=0, maximum=MAX_SIGMA)
        check_range("gaussian-blur", "sigma-y", sigma_y, minimum=0, maximum=MAX_SIGMA)
        self.sigma_x = float(sigma_x)
        self.sigma_y = float(sigma_y)

    def process(self, image: Image.Image) -> Image.Image:
        pixels = np.asarray(to_rgb(image))
        blurred = cv2.GaussianBlur(pixels, self.size, sigmaX=self.sigma_x, sigmaY=self.sigma_y)
        return Image.fromarray(blurred, "RGB")
