"""Registration module of the ``image-ops`` plugin (light: no Pillow import here)."""

from dgenerate.plugin_api import ImageProcessorSpec, hookimpl

_OPS = ".ops"


@hookimpl
def dgenerate_image_processors():
    yield ImageProcessorSpec(
        name="flip",
        summary="Flip the image upside down (top row becomes the bottom row).",
        target=f"{_OPS}:Flip",
    )
    yield ImageProcessorSpec(
        name="mirror",
        summary="Mirror the image left to right.",
        target=f"{_OPS}:Mirror",
    )
    yield ImageProcessorSpec(
        name="grayscale",
        summary="Remove colour; the result stays RGB with three equal channels.",
        target=f"{_OPS}:Grayscale",
    )
    yield ImageProcessorSpec(
        name="invert",
        summary="Invert the colours (a photographic negative); alpha is kept.",
        target=f"{_OPS}:Invert",
    )
