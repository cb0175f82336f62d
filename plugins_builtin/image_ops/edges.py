"""Edge detection: Canny (OpenCV)."""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.values import Size

from .common import Detection, argument_error, check_range

#: the kernel of the optional blur before edge detection
BLUR_KERNEL = (5, 5)

#: the largest lower/upper threshold, above any gradient a 7x7 Sobel aperture gives
MAX_THRESHOLD = 1_000_000

#: the largest spread of the median thresholds
MAX_MEDIAN_SIGMA = 10.0


def automatic_thresholds(gray: np.ndarray, algo: str, sigma: float) -> tuple[float, float]:
    """Lower and upper Canny thresholds computed from a gray image.

    otsu and triangle take the threshold OpenCV's binarisation method of
    that name finds as the upper threshold and half of it as the lower one;
    median spreads the thresholds sigma around the median gray value.
    """
    if algo == "median":
        median = float(np.median(gray))
        return max(0.0, (1.0 - sigma) * median), min(255.0, (1.0 + sigma) * median)
    flag = cv2.THRESH_OTSU if algo == "otsu" else cv2.THRESH_TRIANGLE
    upper, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | flag)
    return upper * 0.5, upper


class Canny(ImageProcessor):
    """Detect edges with the Canny algorithm (OpenCV Canny).

    The result is white edges on black, as an RGB image with three equal
    channels and the size of the input: the control image Canny ControlNets
    and T2I adapters expect.

    Arguments:

    - lower (default 50), upper (default 100): the hysteresis
      thresholds on the gradient magnitude, 0 to 1000000. Gradients above
      upper start an edge, gradients above lower continue one. Lower values
      find more edges.
    - aperture-size (default 3): the size of the Sobel operator, 3, 5 or 7.
      Larger apertures give much larger gradients, so raise the thresholds too.
    - L2-gradient (default false): measure gradients with the exact
      Euclidean norm instead of the sum of absolute values.
    - blur (default false): smooth the image with a 5x5 Gaussian blur
      first, which removes edges caused by noise and fine texture.
    - gray (default false): detect edges on the gray image; by default the
      strongest gradient of the three colour channels is used.
    - threshold-algo (default none): compute the thresholds from the image
      instead of lower/upper: otsu or triangle (OpenCV's
      binarisation thresholds; upper is that threshold, lower half of it) or
      median (sigma around the median gray value).
    - sigma (default 0.33): the spread of the median thresholds, 0 to 10:
      lower = (1 - sigma) * median, upper = (1 + sigma) * median.
    - detect-resolution (default none): run detection at this size
      (WIDTH or WIDTHxHEIGHT, at most 16384 per side) and resize the edges
      back to the input size.
    - detect-aspect (default true): with detect-resolution, keep the
      image's aspect ratio: the width is used and the height computed from it.
    - detect-align (default 1): round the detection size to a multiple of
      this, 1 to 16384. The detection size may have at most 16384 pixels per
      side (or the input's size, when that is larger).
    """

    def __init__(
        self, *,
        lower: Annotated[int, Arg(help="lower hysteresis threshold")] = 50,
        upper: Annotated[int, Arg(help="upper hysteresis threshold")] = 100,
        aperture_size: Annotated[int, Arg(help="Sobel aperture: 3, 5 or 7")] = 3,
        L2_gradient: Annotated[bool, Arg(help="use the exact gradient magnitude")] = False,
        blur: Annotated[bool, Arg(help="blur (5x5 Gaussian) before detection")] = False,
        gray: Annotated[bool, Arg(help="detect on the gray image")] = False,
        threshold_algo: Annotated[Literal["otsu", "triangle", "median"] | None,
                                  Arg(help="compute thresholds from the image")] = None,
        sigma: Annotated[float, Arg(help="spread of the median thresholds")] = 0.33,
        detect_resolution: Annotated[Size | None, Arg(help="detection size")] = None,
        detect_aspect: Annotated[bool, Arg(help="aspect correct detection size")] = True,
        detect_align: Annotated[int, Arg(help="align the detection size")] = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check_range("canny", "lower", lower, minimum=0, maximum=MAX_THRESHOLD)
        check_range("canny", "upper", upper, minimum=0, maximum=MAX_THRESHOLD)
        if lower > upper:
            raise argument_error("canny", "lower", lower,
                                 f"must not be larger than upper ({upper})")
        if aperture_size not in (3, 5, 7):
            raise argument_error("canny", "aperture-size", aperture_size, "must be 3, 5 or 7")
        if threshold_algo not in (None, "otsu", "triangle", "median"):
            raise argument_error("canny", "threshold-algo", threshold_algo,
                                 "must be otsu, triangle or median")
        check_range("canny", "sigma", sigma, minimum=0, maximum=MAX_MEDIAN_SIGMA)
        self.lower = lower
        self.upper = upper
        self.aperture_size = aperture_size
        self.L2_gradient = L2_gradient
        self.blur = blur
        self.gray = gray
        self.threshold_algo = threshold_algo
        self.sigma = sigma
        self.detection = Detection("canny", detect_resolution, detect_aspect, detect_align)

    def process(self, image: Image.Image) -> Image.Image:
        pixels = np.asarray(self.detection.prepare(image))
        if self.gray:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        if self.blur:
            pixels = cv2.GaussianBlur(pixels, BLUR_KERNEL, 0)
        lower, upper = float(self.lower), float(self.upper)
        if self.threshold_algo is not None:
            gray = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
            lower, upper = automatic_thresholds(gray, self.threshold_algo, self.sigma)
        edges = cv2.Canny(pixels, lower, upper, apertureSize=self.aperture_size,
                          L2gradient=self.L2_gradient)
        result = Image.fromarray(edges, "L").convert("RGB")
        return self.detection.restore(result, image.size)
