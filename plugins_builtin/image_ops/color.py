"""Tone operations: posterize and solarize (Pillow)."""

from __future__ import annotations

from typing import Annotated

from PIL import Image, ImageOps

from dgenerate.plugin_api import Arg, ImageProcessor

from .common import check_range, join_alpha, split_alpha


class Posterize(ImageProcessor):
    """Reduce every colour channel to a few bits, giving flat bands of colour.

    Each channel value keeps only its bits most significant bits, so a
    channel has 2 ** bits levels: bits=1 leaves two (0 and 128), bits=8
    leaves the image as it is. An alpha channel is kept.

    Arguments:

    - bits (required): bits kept per channel, 1 to 8.
    """

    def __init__(self, *, bits: Annotated[int, Arg(help="bits kept per channel, 1 to 8")],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        check_range("posterize", "bits", bits, minimum=1, maximum=8)
        self.bits = bits

    def process(self, image: Image.Image) -> Image.Image:
        rgb, alpha = split_alpha(image)
        return join_alpha(ImageOps.posterize(rgb, self.bits), alpha)


class Solarize(ImageProcessor):
    """Invert the bright values only, the darkroom solarization effect.

    Every channel value at or above threshold becomes 255 - value; darker
    values stay as they are. An alpha channel is kept.

    Arguments:

    - threshold (default 128): the value from which channels are inverted,
      0 to 255. 0 inverts everything, like invert; 255 inverts only pure 255.
    """

    def __init__(self, *,
                 threshold: Annotated[
                     int, Arg(help="channel values at or above this are inverted")] = 128,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        check_range("solarize", "threshold", threshold, minimum=0, maximum=255)
        self.threshold = threshold

    def process(self, image: Image.Image) -> Image.Image:
        rgb, alpha = split_alpha(image)
        return join_alpha(ImageOps.solarize(rgb, self.threshold), alpha)
