"""Registration module of the ``upscaler`` plugin (light: torch and spandrel are
imported by the implementation only when an upscaler is created)."""

from dgenerate.plugin_api import ImageProcessorSpec, hookimpl


@hookimpl
def dgenerate_image_processors():
    yield ImageProcessorSpec(
        name="upscaler",
        summary="Upscale with a chaiNNer-compatible torch model (spandrel), in blended tiles.",
        target=".processor:Upscaler",
        requires=("torch", "spandrel"),
    )
