"""Opening inputs: still images, animated images and videos, read one frame at a time.

Pillow reads stills and GIF, WebP and APNG animations; PyAV reads video containers.
Both are imported only when a file is opened, so that ``dgenerate --help`` stays fast.
Frames are decoded as they are taken, never all at once: a long video costs the
memory of one frame.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

from ..errors import DgenerateError

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from PIL.Image import Image

__all__ = ["ANIMATED_IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "Media", "check_slice", "open_media"]

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")
# Suffixes that *may* hold an animation: a .png is animated only when it is an APNG,
# which shows once the file is opened (``Media.animated``).
ANIMATED_IMAGE_SUFFIXES = (".gif", ".webp", ".apng", ".png")

# Pillow formats whose extra frames are animation frames (not TIFF pages, MPO views, icon sizes)
_ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")
# the delay browsers show for animation frames that give none
_DEFAULT_DELAY_MS = 100.0


class _FrameSource(Protocol):
    def frames(self, start: int, end: int) -> Iterator[Image]: ...

    def close(self) -> None: ...


class Media:
    """An opened input: its size, frame count and rate, and its frames decoded on demand.

    ``fps`` is 0.0 for a still image; ``frame_count`` is 1 for it.
    """

    def __init__(self, path: str, frame_count: int, fps: float, size: tuple[int, int],
                 source: _FrameSource) -> None:
        self.path = path
        self.frame_count = frame_count
        self.fps = fps
        self.size = size
        self._source = source
        self._closed = False

    @property
    def animated(self) -> bool:
        return self.frame_count > 1

    def frames(self, start: int = 0, end: int | None = None) -> Iterator[Image]:
        """RGB frames ``start`` to ``end`` inclusive, each decoded when it is taken.

        The slice is checked now rather than at the first frame, so a bad one fails early.
        """
        if self._closed:
            raise ValueError(f"{self.path!r} is closed")
        first, last = check_slice(self, start, end)
        return self._source.frames(first, last)

    def close(self) -> None:
        self._closed = True
        self._source.close()

    def __enter__(self) -> Media:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Media({self.path!r}, frame_count={self.frame_count}, fps={self.fps:g}, "
                f"size={self.size})")


def check_slice(media: Media, start: int | None, end: int | None) -> tuple[int, int]:
    """Resolve the inclusive frame slice ``start``..``end`` of ``media`` (None: first, last).

    An ``end`` past the last frame is clipped to it, so "to the end" needs no frame count.
    """
    first = 0 if start is None else start
    last = media.frame_count - 1 if end is None else end
    if first < 0 or last < 0:
        raise DgenerateError(f"{media.path!r}: frame numbers count from 0; the frame slice "
                             f"{first} to {last} has a negative frame number")
    if first >= media.frame_count:
        raise DgenerateError(f"{media.path!r}: the frame slice starts at frame {first}, but the "
                             f"file has {_frames_text(media.frame_count)}")
    if first > last:
        raise DgenerateError(f"{media.path!r}: the frame slice starts at frame {first}, "
                             f"after its end at frame {last}")
    return first, min(last, media.frame_count - 1)


def _frames_text(count: int) -> str:
    return "1 frame (frame 0)" if count == 1 else f"{count} frames (0 to {count - 1})"


def open_media(path: str) -> Media:
    """Open an image, an animation or a video; video suffixes go to PyAV, the rest to Pillow.

    A file Pillow does not recognise is tried as a video too, whatever its suffix.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DgenerateError(f"{path!r} does not exist")
    if os.path.isdir(path):
        raise DgenerateError(f"{path!r} is a folder, not an image or a video")
    if path.lower().endswith(VIDEO_SUFFIXES):
        return _open_video(path, guessed=False)
    media = _open_image(path)
    return media if media is not None else _open_video(path, guessed=True)


def _unreadable(path: str, error: BaseException, frame: int | None = None) -> DgenerateError:
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    where = "" if frame is None else f" at frame {frame}"
    return DgenerateError(f"cannot read {path!r}{where}: {reason}")


def _not_media(path: str) -> DgenerateError:
    return DgenerateError(f"cannot read {path!r}: it is neither an image Pillow reads nor a "
                          f"video PyAV reads (a damaged file, or an unsupported format)")


# --- images (Pillow) ---------------------------------------------------------------


def _open_image(path: str) -> Media | None:
    """The image or animation at ``path``, or None when Pillow does not recognise the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise _unreadable(path, error) from None
    try:
        image.load()  # a truncated file fails here rather than in the middle of a render
        count = _image_frame_count(image)
        fps = _image_fps(image, count) if count > 1 else 0.0
    except (OSError, EOFError, SyntaxError, ValueError) as error:
        image.close()
        raise _unreadable(path, error) from None
    return Media(path, count, fps, image.size, _ImageFrames(path, image))


def _image_frame_count(image: Image) -> int:
    if image.format in _ANIMATED_FORMATS and getattr(image, "is_animated", False):
        return int(image.n_frames)
    return 1


def _image_fps(image: Image, count: int) -> float:
    """The frame rate of an animation: 1000 over its average frame delay in milliseconds."""
    total = 0.0
    for index in range(count):
        image.seek(index)
        image.load()  # WebP sets the duration only when the frame is decoded
        total += float(image.info.get("duration") or 0)
    image.seek(0)
    return 1000.0 / (total / count or _DEFAULT_DELAY_MS)


class _ImageFrames:
    """Frames of an image Pillow reads; every step seeks by number, so iterations may interleave."""

    def __init__(self, path: str, image: Image) -> None:
        self._path = path
        self._image = image

    def frames(self, start: int, end: int) -> Iterator[Image]:
        for index in range(start, end + 1):
            try:
                self._image.seek(index)
                frame = self._image.convert("RGB")  # a copy: the next seek does not change it
            except (OSError, EOFError, SyntaxError, ValueError) as error:
                raise _unreadable(self._path, error, index) from None
            yield frame

    def close(self) -> None:
        self._image.close()


# --- videos (PyAV) -----------------------------------------------------------------


def _open_container(path: str) -> InputContainer:
    import av

    try:
        return av.open(path)
    except (av.FFmpegError, OSError) as error:
        raise _unreadable(path, error) from None


def _open_video(path: str, *, guessed: bool) -> Media:
    """Probe a video: its first frame is decoded, to catch damaged files before rendering.

    ``guessed``: the file has no video suffix and Pillow did not recognise it.
    """
    import av

    try:
        container = _open_container(path)
    except DgenerateError:
        if guessed:
            raise _not_media(path) from None
        raise
    try:
        return _probe_video(path, container, guessed=guessed)
    except av.FFmpegError as error:
        raise (_not_media(path) if guessed else _unreadable(path, error)) from None
    finally:
        container.close()


def _probe_video(path: str, container: InputContainer, *, guessed: bool) -> Media:
    if not container.streams.video:
        raise _not_media(path) if guessed else DgenerateError(
            f"cannot read {path!r}: it holds no video stream")
    stream = container.streams.video[0]
    first = next(container.decode(stream), None)
    if first is None:
        raise DgenerateError(f"cannot read {path!r}: its video stream holds no frames")
    count = stream.frames or _count_packets(path)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    source = _VideoFrames(path, first.pts, rate, stream.time_base)
    return Media(path, max(count, 1), fps, (first.width, first.height), source)


def _count_packets(path: str) -> int:
    """Count the frames of a container that does not record their number (WebM, MKV).

    Demuxing without decoding only reads the file; each video packet holds one frame.
    """
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)
    finally:
        container.close()


class _VideoFrames:
    """Frames of the first video stream; each iteration opens its own container: no clashes.

    A slice that starts past frame 0 seeks to the keyframe before it and numbers frames by
    timestamp (exact for constant frame rates); when that cannot work it decodes from the start.
    """

    def __init__(self, path: str, origin: int | None, rate: Fraction | None,
                 time_base: Fraction | None) -> None:
        self._path = path
        self._origin = origin  # the timestamp of frame 0
        self._rate = rate
        self._time_base = time_base

    def frames(self, start: int, end: int) -> Iterator[Image]:
        import av

        container = self._open()
        try:
            numbered = self._seek(container, start)
            if numbered is None:
                container.close()
                container = self._open()
                numbered = enumerate(container.decode(container.streams.video[0]))
            for index, frame in numbered:
                if index > end:
                    break
                if index >= start:
                    yield frame.to_image()
        except av.FFmpegError as error:
            raise _unreadable(self._path, error) from None
        finally:
            container.close()

    def _open(self) -> InputContainer:
        container = _open_container(self._path)
        if not container.streams.video:  # the file changed since it was opened
            container.close()
            raise DgenerateError(f"cannot read {self._path!r}: it holds no video stream")
        container.streams.video[0].thread_type = "AUTO"
        return container

    def _seek(self, container: InputContainer,
              start: int) -> Iterator[tuple[int, VideoFrame]] | None:
        """Frames from the keyframe before ``start``, numbered; None when seeking cannot work."""
        import av

        stream = container.streams.video[0]
        if start == 0:
            return enumerate(container.decode(stream))
        if self._origin is None or not self._rate or not self._time_base:
            return None
        try:
            container.seek(self._timestamp(start), stream=stream)
            decoded = container.decode(stream)
            first = next(decoded, None)
        except av.FFmpegError:
            return None
        if first is None or first.pts is None or self._number(first.pts) > start:
            return None  # no timestamps, or the seek went past the frame
        return enumerate(itertools.chain([first], decoded), self._number(first.pts))

    def _timestamp(self, index: int) -> int:
        assert self._origin is not None and self._rate and self._time_base
        return self._origin + math.floor(index / self._rate / self._time_base)

    def _number(self, timestamp: int) -> int:
        assert self._origin is not None and self._rate and self._time_base
        return round((timestamp - self._origin) * self._time_base * self._rate)

    def close(self) -> None:
        """Nothing to release: each iteration closes its own container when it ends."""
