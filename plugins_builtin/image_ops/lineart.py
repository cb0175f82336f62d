"""Line drawing extraction without a model: lineart-standard (NumPy and OpenCV)."""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.values import Size

from .common import MAX_SIGMA, Detection, argument_error, check_range

#: the line strength that maps to the brightest value is never below this
MINIMUM_NORMALISER = 16.0


def standard_lineart(pixels: np.ndarray, gaussian_sigma: float,
                     intensity_threshold: int) -> np.ndarray:
    """Line strength of an RGB uint8 array as a 2-D uint8 array (white lines on black).

    A pixel is on a line where it is darker than its blurred surroundings in
    every channel: the strength is the smallest per-channel difference between
    the Gaussian blurred image and the image. Strengths are normalised by the
    median of those above intensity_threshold (at least 16), so typical
    lines come out mid-gray and the strongest saturate.
    """
    values = pixels.astype(np.float32)
    blurred = cv2.GaussianBlur(values, (0, 0), gaussian_sigma)
    strength = np.clip(np.min(blurred - values, axis=2), 0, 255)
    lines = strength[strength > intensity_threshold]
    normaliser = max(MINIMUM_NORMALISER, float(np.median(lines)) if lines.size else 0.0)
    return np.clip(strength / normaliser * 127.0, 0, 255).astype(np.uint8)


class LineartStandard(ImageProcessor):
    """Turn the image into a line drawing by comparing it with a blurred copy.

    No model is needed: dark strokes and edges, which are darker than their
    blurred surroundings in every colour channel, become white lines on black.
    The result is an RGB image with three equal channels and the size of the
    input, suitable for line-art ControlNets.

    Arguments:

    - gaussian-sigma (default 6.0): the blur radius (standard deviation in
      pixels) of the comparison copy, above 0 and at most 128; larger
      values catch wider strokes.
    - intensity-threshold (default 8): differences up to this value are
      treated as noise when measuring the typical line strength that sets the
      brightness of the drawing.
    - detect-resolution (default none): work at this size (WIDTH or
      WIDTHxHEIGHT, at most 16384 per side) and resize the drawing back to
      the input size.
    - detect-aspect (default true): with detect-resolution, keep the
      image's aspect ratio: the width is used and the height computed from it.
    - detect-align (default 1): round the working size to a multiple of
      this, 1 to 16384. The working size may have at most 16384 pixels per
      side (or the input's size, when that is larger).
    """

    def __init__(
        self, *,
        gaussian_sigma: Annotated[float, Arg(help="blur of the comparison copy")] = 6.0,
        intensity_threshold: Annotated[int, Arg(help="noise level of line strengths")] = 8,
        detect_resolution: Annotated[Size | None, Arg(help="working size")] = None,
        detect_aspect: Annotated[bool, Arg(help="aspect correct working size")] = True,
        detect_align: Annotated[int, Arg(help="align the working size")] = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 < gaussian_sigma <= MAX_SIGMA:
            raise argument_error("lineart-standard", "gaussian-sigma", gaussian_sigma,
                                 f"must be larger than 0 and at most {MAX_SIGMA:g}")
        check_range("lineart-standard", "intensity-threshold", intensity_threshold,
                    minimum=0, maximum=255)
        self.gaussian_sigma = float(gaussian_sigma)
        self.intensity_threshold = intensity_threshold
        self.detection = Detection("lineart-standard", detect_resolution, detect_aspect,
                                   detect_align)

    def process(self, image: Image.Image) -> Image.Image:
        pixels = np.asarray(self.detection.prepare(image))
        lines = standard_lineart(pixels, self.gaussian_sigma, self.intensity_threshold)
        result = Image.fromarray(lines, "L").convert("RGB")
        return self.detection.restore(result, image.size)
