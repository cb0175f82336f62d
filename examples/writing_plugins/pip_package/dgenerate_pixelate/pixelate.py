"""The pixelate processor."""

from typing import Annotated

from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor, PluginArgumentError


class Pixelate(ImageProcessor):
    """Replace each block of pixels by one colour, like a low-resolution mosaic.

    The image is shrunk so that every "block" x "block" square becomes one pixel
    (averaging its colours), then enlarged back with nearest-neighbour sampling.
    """

    def __init__(self, block: Annotated[int, Arg(help="block size in pixels")] = 8,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if block < 1:
            raise PluginArgumentError(f"pixelate: block {block} must be at least 1")
        self.block = block

    def process(self, image: Image.Image) -> Image.Image:
        small = image.resize(
            (max(1, image.width // self.block), max(1, image.height // self.block)),
            Image.Resampling.BOX)
        return small.resize(image.size, Image.Resampling.NEAREST)
