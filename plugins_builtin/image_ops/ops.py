"""The image operations themselves, on Pillow images."""

from __future__ import annotations

from PIL import Image, ImageOps

from dgenerate.plugin_api import ImageProcessor


class Flip(ImageProcessor):
    """Flip the image vertically: the top row of pixels becomes the bottom row.

    Useful to augment a seed image or to undo an upside-down source.
    """

    def process(self, image: Image.Image) -> Image.Image:
        return ImageOps.flip(image)


class Mirror(ImageProcessor):
    """Mirror the image horizontally: the left column of pixels becomes the right one."""

    def process(self, image: Image.Image) -> Image.Image:
        return ImageOps.mirror(image)


class Grayscale(ImageProcessor):
    """Convert the image to shades of gray.

    The luminance is computed as Pillow does (ITU-R 601-2 luma) and written back
    into all three channels, so the result is still an RGB image that diffusion
    pipelines and ControlNets accept. An alpha channel is kept.
    """

    def process(self, image: Image.Image) -> Image.Image:
        gray = ImageOps.grayscale(image)
        if image.mode == "RGBA":
            result = Image.merge("RGBA", (gray, gray, gray, image.getchannel("A")))
            return result
        return Image.merge("RGB", (gray, gray, gray))


class Invert(ImageProcessor):
    """Invert every colour channel (255 - value), like a photographic negative.

    Commonly used to swap the black and white areas of an inpainting mask.
    An alpha channel is kept as it is; palette and other modes are converted to
    RGB first.
    """

    def process(self, image: Image.Image) -> Image.Image:
        if image.mode == "RGBA":
            red, green, blue, alpha = image.split()
            inverted = ImageOps.invert(Image.merge("RGB", (red, green, blue)))
            return Image.merge("RGBA", (*inverted.split(), alpha))
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        return ImageOps.invert(image)
