"""Registration module named by the package's entry point."""

from dgenerate.plugin_api import ImageProcessorSpec, hookimpl


@hookimpl
def dgenerate_image_processors():
    yield ImageProcessorSpec(
        name="pixelate",
        summary="Turn the image into large square blocks of colour.",
        target="dgenerate_pixelate.pixelate:Pixelate",
    )
