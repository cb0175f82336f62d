"""Writing animations frame by frame, atomically: MP4 video, GIF, WebP and APNG.

The file appears at its path only when complete: frames go to a temporary file
beside it (see :func:`~dgenerate.plugin_api.files.atomic_output`), renamed on close.
An interruption between frames leaves nothing at the path.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, overload

from ..errors import DgenerateError, WriteError
from ..files import NewFile, atomic_new_file, atomic_output

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.stream import VideoStream
    from PIL.Image import Image

__all__ = ["ANIMATION_FORMATS", "AnimationWriter", "write_animation"]

# "png" is APNG as well (the manual: "png (APNG), apng")
from . import ANIMATION_FORMATS

_PILLOW_FORMATS = {"gif": "GIF", "webp": "WEBP", "apng": "PNG", "png": "PNG"}
# rates are kept as fractions with denominators up to 1001, so NTSC rates (30000/1001) survive
_RATE_DENOMINATOR = 1001
_X264_OPTIONS = {"crf": "18"}
# the fallback MPEG-4 Part 2 encoder: constant quality 3 (ffmpeg's -q:v 3; 118 = FF_QP2LAMBDA)
_MPEG4_OPTIONS = {"flags": "+qscale", "global_quality": str(3 * 118)}


class _Sink(Protocol):
    def add(self, image: Image) -> None: ...

    def finish(self) -> None: ...

    def discard(self) -> None: ...


def check_animation_format(animation_format: str) -> str:
    """The format name in lower case; unknown names are a user error."""
    name = animation_format.lower()
    if name not in ANIMATION_FORMATS:
        raise DgenerateError(f"unknown animation format {animation_format!r}; the animation "
                             f"formats are {', '.join(ANIMATION_FORMATS)}")
    return name


class AnimationWriter:
    """Write an animation one frame at a time; the first frame fixes the size of all.

    As a context manager it closes (finishes the file) on success and aborts on an
    exception. MP4 frames are encoded as they arrive; GIF, WebP and APNG frames are
    kept as PNG files in a temporary folder beside the output and assembled on close,
    because Pillow writes those formats in one call: memory stays bounded while
    frames are being made, and holds the frames only for the final assembly.
    """

    def __init__(self, path: str, animation_format: str, fps: float, *,
                 names: Iterable[str] | None = None) -> None:
        """With ``names`` nothing is replaced: the finished file takes the first of them that
        is free (``path`` is then that name after :meth:`close`)."""
        self.path = os.fspath(path)
        self._names = names
        self._new_file: NewFile | None = None
        self.format = check_animation_format(animation_format)
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise DgenerateError(f"{self.path!r}: the animation frame rate {fps!r} must be a "
                                 f"positive number")
        self.fps = fps
        self.frame_count = 0
        self._size: tuple[int, int] | None = None
        self._output: contextlib.AbstractContextManager[Any] | None = None
        self._sink: _Sink | None = None
        self._done = False

    def write(self, image: Image) -> None:
        if self._done:
            raise ValueError(f"the animation writer for {self.path!r} is closed")
        if self._sink is not None and image.size != self._size:
            raise ValueError(f"frame {self.frame_count} of {self.path!r} is {image.size}, "
                             f"but the first frame was {self._size}")
        try:
            if self._sink is None:
                self._sink = self._start(image.size)
            self._sink.add(image)
        except OSError as error:  # disk full, folder gone ...
            self.abort()
            raise _write_error(self.path, error) from error
        self.frame_count += 1

    def _start(self, size: tuple[int, int]) -> _Sink:
        self._size = size
        if self._names is None:
            self._output = atomic_output(self.path)
            temporary = self._output.__enter__()
        else:
            self._output = atomic_new_file(self.path, self._names)
            self._new_file = self._output.__enter__()
            temporary = self._new_file.temporary
        if self.format == "mp4":
            return _VideoSink(temporary, self.fps, size)
        return _SpilledFrames(temporary, _PILLOW_FORMATS[self.format], self.fps)

    def close(self) -> None:
        """Finish the file and move it to its path."""
        if self._done:
            return
        if self._sink is None or self._output is None:
            raise ValueError(f"no frames were written to {self.path!r}")
        try:
            self._sink.finish()
        except OSError as error:
            self.abort()
            raise _write_error(self.path, error) from error
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._output.__exit__(None, None, None)
        if self._new_file is not None:
            self.path = str(self._new_file.path)

    def abort(self) -> None:
        """Remove everything written so far; the path is left as it was."""
        if self._done:
            return
        self._done = True
        if self._sink is not None:
            self._sink.discard()
        if self._output is not None:
            self._output.__exit__(_Aborted, _Aborted(), None)

    def __enter__(self) -> AnimationWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _write_error(path: str, error: OSError) -> WriteError:
    return error if isinstance(error, WriteError) else WriteError(path, error)


class _Aborted(Exception):
    """Thrown into :func:`atomic_output` to make it remove the temporary file."""


def write_animation(path: str, animation_format: str, fps: float, frames: Iterable[Image]) -> None:
    """Write ``frames`` as one animation at ``path`` (see :class:`AnimationWriter`)."""
    with AnimationWriter(path, animation_format, fps) as writer:
        for frame in frames:
            writer.write(frame)


# --- MP4 (PyAV) ----------------------------------------------------------------------


def _mp4_codec() -> str:
    """H.264 (libx264) where this PyAV build has it, else MPEG-4 Part 2, which every build has."""
    import av

    try:
        av.codec.Codec("libx264", "w")
    except (ValueError, av.FFmpegError):
        return "mpeg4"
    return "libx264"


def _even(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    return width + width % 2, height + height % 2


def _pad_to_even(image: Image) -> Image:
    """The image grown to even dimensions, which 4:2:0 video needs.

    An odd width or height is *padded* by one pixel (never cropped: no generated
    pixel is lost), repeating the last column or row so that no dark edge shows.
    """
    width, height = image.size
    size = _even(image.size)
    if size == image.size:
        return image
    from PIL import Image as ImageModule

    padded = ImageModule.new(image.mode, size)
    padded.paste(image, (0, 0))
    if width % 2:
        padded.paste(image.crop((width - 1, 0, width, height)), (width, 0))
    if height % 2:
        padded.paste(padded.crop((0, height - 1, size[0], height)), (0, height))
    return padded


def _rate(fps: float) -> Fraction:
    exact = fps if isinstance(fps, int | Fraction) else Fraction(float(fps))
    return Fraction(exact).limit_denominator(_RATE_DENOMINATOR)


class _VideoSink:
    """Frames encoded as they arrive: memory does not grow with the frame count."""

    def __init__(self, temporary: Path, fps: float, size: tuple[int, int]) -> None:
        import av

        self._container: OutputContainer = av.open(str(temporary), mode="w", format="mp4")
        try:
            self._stream = self._add_stream(size, fps)
        except BaseException:
            self._container.close()
            raise
        self._count = 0

    def _add_stream(self, size: tuple[int, int], fps: float) -> VideoStream:
        codec = _mp4_codec()
        options = _X264_OPTIONS if codec == "libx264" else _MPEG4_OPTIONS
        stream: VideoStream = self._container.add_stream(codec, rate=_rate(fps), options=options)
        stream.width, stream.height = _even(size)
        stream.pix_fmt = "yuv420p"
        return stream

    def add(self, image: Image) -> None:
        import av

        frame = av.VideoFrame.from_image(_pad_to_even(image.convert("RGB")))
        frame.pts = self._count  # in units of 1/rate, the encoder's time base
        self._count += 1
        self._container.mux(self._stream.encode(frame))

    def finish(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()


# --- GIF, WebP, APNG (Pillow) ----------------------------------------------------------


def _frame_duration(format_name: str, fps: float) -> float:
    """Milliseconds per frame; GIF counts hundredths of a second, so it is rounded to those."""
    if format_name == "GIF":  # Pillow truncates to 10 ms steps: round here instead
        return max(10.0, 10.0 * round(100 / fps))
    return 1000 / fps  # APNG keeps a fraction; WebP rounds the running timestamp


class _SpilledFrames:
    """Frames kept as PNG files in a temporary folder until Pillow assembles the animation.

    The folder sits beside the output (a dot folder), on the disk the user chose for it.
    Pillow holds every frame while it assembles them, and merges a frame identical to the
    one before it into that one (a longer delay, one frame fewer in the file).
    """

    def __init__(self, temporary: Path, format_name: str, fps: float) -> None:
        self._temporary = temporary
        self._format = format_name
        self._duration = _frame_duration(format_name, fps)
        self._folder = Path(tempfile.mkdtemp(prefix=f"{temporary.stem}.frames.",
                                             dir=temporary.parent))
        self._files: list[Path] = []

    def add(self, image: Image) -> None:
        path = self._folder / f"{len(self._files):08d}.png"
        frame = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
        frame.save(path, format="PNG", compress_level=1)
        self._files.append(path)

    def finish(self) -> None:
        from PIL import Image as ImageModule

        try:
            with ImageModule.open(self._files[0]) as first:
                first.save(self._temporary, format=self._format, save_all=True,
                           append_images=_Reopened(self._files[1:]), duration=self._duration,
                           loop=0, **self._options())
        finally:
            self.discard()

    def _options(self) -> dict[str, object]:
        return {"quality": 90} if self._format == "WEBP" else {}

    def discard(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)


class _Reopened(Sequence["Image"]):
    """Spilled frames, read back as they are asked for.

    A sequence, not a generator: Pillow's APNG writer goes over ``append_images`` twice.
    """

    def __init__(self, files: list[Path]) -> None:
        self._files = files

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def __getitem__(self, index: int) -> Image: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Image]: ...

    def __getitem__(self, index: int | slice) -> Image | Sequence[Image]:
        if isinstance(index, slice):
            return _Reopened(self._files[index])
        from PIL import Image as ImageModule

        with ImageModule.open(self._files[index]) as image:
            return image.copy()  # loaded, so the file closes: Pillow may keep every frame
