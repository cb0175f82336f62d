"""Base class of image processors."""

from __future__ import annotations

import abc
import os
from typing import TYPE_CHECKING, Annotated

from ..args import Arg
from ..files import atomic_output

if TYPE_CHECKING:  # Pillow is imported by implementations, not by listings
    from PIL.Image import Image

__all__ = ["ImageProcessor"]


class ImageProcessor(abc.ABC):
    """An operation on a Pillow image, configured by URI arguments.

    Subclasses declare their own keyword arguments in ``__init__`` (they become
    URI arguments), pass the common ones on with ``**kwargs``, and implement
    :meth:`process`. Callers use the instance as a function: ``processor(image)``.

    Every processor accepts ``output-file``: a copy of each image the processor
    *changed* is written there (for debugging what goes into diffusion). The
    first write uses the name as given, later ones add ``_2``, ``_3`` ... before
    the extension, unless ``output-overwrite`` is true. ``pre-resize`` asks the
    render loop to run the processor on input images before they are resized to
    the output size instead of after (it has no effect elsewhere).
    """

    def __init__(
        self,
        *,
        output_file: Annotated[
            str | None, Arg(help="write each changed image to this file")] = None,
        output_overwrite: Annotated[
            bool, Arg(help="overwrite output-file instead of numbering copies")] = False,
        pre_resize: Annotated[
            bool, Arg(help="run before input images are resized, not after")] = False,
    ) -> None:
        self.output_file = output_file
        self.output_overwrite = output_overwrite
        self.pre_resize = pre_resize
        self._written = 0

    @abc.abstractmethod
    def process(self, image: Image) -> Image:
        """Return the processed image (a new image, or the input when nothing changes)."""

    def __call__(self, image: Image) -> Image:
        result = self.process(image)
        if self.output_file and _changed(image, result):
            self._write_debug_copy(result)
        return result

    def _write_debug_copy(self, image: Image) -> None:
        self._written += 1
        path = self.output_file
        if self._written > 1 and not self.output_overwrite:
            stem, extension = os.path.splitext(path)
            path = f"{stem}_{self._written}{extension}"
        with atomic_output(path) as temporary:
            image.save(temporary)


def _changed(before: Image, after: Image) -> bool:
    if after is before:
        return False
    return (after.mode, after.size) != (before.mode, before.size) or (
        after.tobytes() != before.tobytes())
