"""The sepia processor itself."""

from typing import Annotated

from PIL import Image, ImageOps

from dgenerate.plugin_api import Arg, ImageProcessor


class Sepia(ImageProcessor):
    """Tint the image like an old photograph.

    The image is turned to gray, then its dark tones are mapped to a deep
    brown and its light tones to cream. "strength" blends the tinted result
    with the original: 1.0 is fully tinted, 0.0 leaves the image unchanged.
    """

    def __init__(
        self,
        strength: Annotated[float, Arg(help="how much of the tint to apply, 0 to 1")] = 1.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= strength <= 1.0:
            from dgenerate.plugin_api import PluginArgumentError

            raise PluginArgumentError(f"sepia: strength {strength} must be between 0 and 1")
        self.strength = strength

    def process(self, image: Image.Image) -> Image.Image:
        rgb = image.convert("RGB")
        tinted = ImageOps.colorize(ImageOps.grayscale(rgb), black="#2e1a05", white="#fff2d6")
        return Image.blend(rgb, tinted, self.strength)
