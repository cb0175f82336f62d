"""Images, animations and videos: reading (:mod:`.reading`) and writing (:mod:`.writing`),
shared by the kernel and plugins.

Plugins do not open videos with their own code: they ask their context
(:meth:`~dgenerate.plugin_api.PluginContext.open_media`,
:meth:`~dgenerate.plugin_api.PluginContext.animation_writer`,
:meth:`~dgenerate.plugin_api.PluginContext.save_image`), so every feature reads
the same formats, slices frames the same way and writes files atomically.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["ANIMATION_FORMATS", "IMAGE_FORMATS", "AnimationSink", "Media"]

#: Image formats Pillow writes that outputs may use (by file extension).
IMAGE_FORMATS = (
    "png", "apng", "avif", "bmp", "dib", "pcx", "dds", "eps", "gif", "jp2", "j2k", "jpc",
    "jpf", "jpx", "j2c", "icns", "ico", "im", "jfif", "jpe", "jpg", "jpeg", "tif", "tiff",
    "mpo", "msp", "palm", "pdf", "pbm", "pgm", "ppm", "pnm", "pfm", "qoi", "bw", "rgb",
    "rgba", "sgi", "tga", "icb", "vda", "vst", "webp", "xbm", "blp",
)

#: Animation file formats ("png" is an APNG too).
ANIMATION_FORMATS = ("mp4", "gif", "webp", "apng", "png")


class Media(Protocol):
    """An opened image, animation or video; frames are decoded lazily."""

    path: str
    frame_count: int
    fps: float
    size: tuple[int, int]

    @property
    def animated(self) -> bool: ...

    def frames(self, start: int = 0, end: int | None = None) -> Iterator[Image]:
        """RGB frames ``start`` to ``end`` (both included, counted from 0)."""

    def close(self) -> None: ...

    def __enter__(self) -> Media: ...

    def __exit__(self, *details: object) -> None: ...


class AnimationSink(Protocol):
    """An animation file being written, frame by frame; it appears only on ``close``."""

    #: where the file is written; after ``close`` of a writer made with ``overwrite=False``
    #: the name it was published under (``_duplicate_N`` when the name was taken meanwhile)
    path: str

    def write(self, image: Image) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None:
        """Give up: remove what was written."""
