"""Example plugin in a single file: a sub-command printing image sizes.

    dgenerate --plugin-modules examples/writing_plugins/sub_command/image_info.py \
        --sub-command image-info examples/media/*.jpg

A sub-command this small can live in its registration module: importing it
costs nothing, so the target is the class itself instead of a string.
"""

import argparse

from dgenerate.plugin_api import DgenerateError, SubCommand, SubCommandSpec, hookimpl


class ImageInfo(SubCommand):
    """Print the width, height and colour mode of image files."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("files", nargs="+", help="image files to inspect")

    def run(self, options: argparse.Namespace) -> int:
        from PIL import Image, UnidentifiedImageError

        for path in options.files:
            try:
                with Image.open(path) as image:
                    print(f"{path}: {image.width}x{image.height} {image.mode}")
            except (OSError, UnidentifiedImageError) as error:
                raise DgenerateError(f"image-info: cannot read {path!r}: {error}") from None
        return 0


@hookimpl
def dgenerate_sub_commands():
    yield SubCommandSpec(name="image-info", summary="Print the size and mode of image files.",
                         target=ImageInfo)
