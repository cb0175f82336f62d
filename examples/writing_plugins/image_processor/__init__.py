"""Example plugin: an image processor, loaded from this folder.

    dgenerate --plugin-modules examples/writing_plugins/image_processor \
        --image-processor-help sepia

This file is the *registration module*: it only describes the processor.
The implementation (which imports Pillow) lives in processor.py and is imported
when the processor is used or its detailed help is shown. The ``.processor``
target is relative to this package, which works whatever name the folder is
imported under.
"""

from dgenerate.plugin_api import ImageProcessorSpec, hookimpl


@hookimpl
def dgenerate_image_processors():
    yield ImageProcessorSpec(
        name="sepia",
        summary="Give the image the brown tint of an old photograph.",
        target=".processor:Sepia",
    )
