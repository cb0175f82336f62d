"""Mask generation: outpaint-mask (NumPy)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor

from .common import BoxOrPadding, as_box_or_padding


class OutpaintMask(ImageProcessor):
    """Make an outpainting mask the size of the image: black inside a box, white around it.

    White marks what inpainting generates and black what it keeps, so the
    content inside box is kept and everything around it is painted anew.
    Typically the image was first enlarged with letterbox (with
    box-is-padding=true) and the box is where the original picture now
    lies. The image's own pixels are not used, only its size. The result is
    an RGB image.

    Arguments:

    - box (required): the area to keep, in one of three forms. N keeps the
      image inset by N pixels on every side (box=128 after
      letterbox;box-size=128;box-is-padding=true); HxV insets it by H
      pixels left and right and V pixels top and bottom; LEFTxTOPxRIGHTxBOTTOM
      is a fixed box in pixels (right and bottom edges not included). The
      inset forms are measured on each image, so they suit images of any
      size. Parts of a box outside the image are ignored, and an inset that
      leaves nothing of the image (twice the inset at least its width or
      height) keeps nothing: the mask is all white.
    """

    def __init__(self, *,
                 box: Annotated[BoxOrPadding,
                                Arg(help="area to keep: N or HxV inset, or LxTxRxB box")],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.box = as_box_or_padding("outpaint-mask", "box", box)

    def process(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        mask = np.full((height, width, 3), 255, dtype=np.uint8)
        kept = self.box.resolve(image.size)
        if kept is not None:
            left, top, right, bottom = kept
            mask[min(top, height):min(bottom, height), min(left, width):min(right, width)] = 0
        return Image.fromarray(mask, "RGB")
