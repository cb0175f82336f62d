"""Mask generation: outpaint-mask (NumPy)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor

from .common import Box, as_box


class OutpaintMask(ImageProcessor):
    """Make an outpainting mask the size of the image: black inside a box, white around it.

    White marks what inpainting generates and black what it keeps, so the
    content inside box is kept and everything around it is painted anew.
    Typically the image was first enlarged with letterbox (with
    box-is-padding=true) and the box is where the original picture now
    lies. The image's own pixels are not used, only its size. The result is
    an RGB image.

    Arguments:

    - box (required): the area to keep, LEFTxTOPxRIGHTxBOTTOM in pixels
      (right and bottom edges not included). Parts of the box outside the
      image are ignored.
    """

    def __init__(self, *,
                 box: Annotated[Box, Arg(help="area to keep: LEFTxTOPxRIGHTxBOTTOM")],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.box = as_box("outpaint-mask", "box", box)

    def process(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        mask = np.full((height, width, 3), 255, dtype=np.uint8)
        left, top, right, bottom = self.box
        mask[min(top, height):min(bottom, height), min(left, width):min(right, width)] = 0
        return Image.fromarray(mask, "RGB")
