"""The media layer: reading stills, animations and videos lazily; writing animations atomically.

Every reading is checked against an independent one (Pillow or PyAV used directly);
written animations are small synthetic ones, read back with :func:`open_media`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageSequence

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.media import writing
from dgenerate.plugin_api.media.reading import check_slice, open_media
from dgenerate.plugin_api.media.writing import ANIMATION_FORMATS, AnimationWriter, write_animation
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
           (128, 128, 128), (255, 255, 255)]


def solid_frames(size: tuple[int, int], count: int = len(COLOURS)) -> list[Image.Image]:
    return [Image.new("RGB", size, COLOURS[index % len(COLOURS)]) for index in range(count)]


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def decode_video(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded by PyAV directly."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def gray_video(path: Path, count: int, *, fps: Fraction = Fraction(24), gop: int = 5,
               container_format: str = "mp4", codec: str = "libx264") -> Path:
    """A video whose frame i is uniformly gray level 8 * i, with a keyframe every ``gop``."""
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.gop_size = gop
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 8 * index, np.uint8),
                                               format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gray_video(tmp_path_factory.mktemp("video") / "gray.mp4", 30)


# --- reading ---------------------------------------------------------------------------


def test_gif_matches_pillow(media: Path) -> None:
    path = media / "kitten.gif"
    with Image.open(path) as image:
        expected = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
        size = image.size
    with open_media(str(path)) as opened:
        assert opened.frame_count == len(expected) > 1
        assert opened.animated
        assert opened.size == size
        assert opened.fps == pytest.approx(1000 / (sum(durations) / len(durations)))
        sliced = list(opened.frames(3, 5))
    assert len(sliced) == 3
    for frame, reference in zip(sliced, expected[3:6], strict=True):
        assert frame.mode == "RGB" and frame.tobytes() == reference.tobytes()


def test_mp4_matches_pyav(media: Path) -> None:
    path = media / "horse-ride.mp4"
    expected = decode_video(path)
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    with open_media(str(path)) as opened:
        assert opened.frame_count == len(expected) > 5
        assert opened.fps == pytest.approx(float(rate))
        assert opened.size == (expected[0].shape[1], expected[0].shape[0])
        sliced = list(opened.frames(3, 5))
        assert len(list(opened.frames())) == len(expected)
    assert [np.array_equal(np.asarray(frame), reference)
            for frame, reference in zip(sliced, expected[3:6], strict=True)] == [True] * 3


@pytest.mark.parametrize(("start", "end"), [(0, 4), (7, 7), (12, 18), (20, 29), (26, None)])
def test_video_slices_after_seeking_equal_the_sequential_frames(
        long_video: Path, start: int, end: int | None) -> None:
    expected = decode_video(long_video)
    with open_media(str(long_video)) as opened:
        frames = [np.asarray(frame) for frame in opened.frames(start, end)]
    last = len(expected) - 1 if end is None else end
    assert len(frames) == last - start + 1
    assert all(np.array_equal(frame, reference)
               for frame, reference in zip(frames, expected[start:last + 1], strict=True))


def test_webm_without_a_frame_count_is_counted(tmp_path: Path) -> None:
    path = gray_video(tmp_path / "gray.webm", 12, fps=Fraction(12), container_format="webm",
                      codec="libvpx-vp9")
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # the header does not say: count
    with open_media(str(path)) as opened:
        assert (opened.frame_count, opened.fps, opened.size) == (12, 12.0, (32, 32))
        assert len(list(opened.frames(10))) == 2


def test_a_video_without_a_video_suffix_is_found_by_pyav(tmp_path: Path,
                                                         long_video: Path) -> None:
    path = tmp_path / "clip.data"
    path.write_bytes(long_video.read_bytes())
    with open_media(str(path)) as opened:
        assert opened.frame_count == 30


class CountingContainer:
    """A PyAV container that counts the frames its ``decode`` hands out."""

    def __init__(self, container: av.container.InputContainer, decoded: list[int]) -> None:
        self._container = container
        self._decoded = decoded

    def __getattr__(self, name: str) -> object:
        return getattr(self._container, name)

    def decode(self, *args: object, **kwargs: object) -> Iterator[av.VideoFrame]:
        for frame in self._container.decode(*args, **kwargs):
            self._decoded.append(1)
            yield frame


def test_video_frames_are_decoded_lazily(long_video: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *args, **kwargs: CountingContainer(
        real_open(*args, **kwargs), decoded))
    with open_media(str(long_video)) as opened:
        decoded.clear()
        frames = opened.frames()
        assert inspect.isgenerator(frames) and not decoded  # nothing decoded before asked
        next(frames)
        assert len(decoded) == 1
        frames.close()
        decoded.clear()
        assert len(list(opened.frames(21, 22))) == 2
        assert len(decoded) <= 5  # from the keyframe at 20, not from frame 0


def test_still_images_have_one_frame(media: Path) -> None:
    path = media / "horse1.jpg"
    with Image.open(path) as image:
        expected = image.convert("RGB")
    with open_media(str(path)) as opened:
        assert (opened.frame_count, opened.fps, opened.animated) == (1, 0.0, False)
        assert opened.size == expected.size
        frames = list(opened.frames(0, 10))  # the end is clipped to the last frame
        assert len(frames) == 1 and frames[0].tobytes() == expected.tobytes()
        with pytest.raises(DgenerateError, match="horse1.jpg"):
            opened.frames(1)


def test_a_png_that_is_not_animated_is_a_still(media: Path) -> None:
    with open_media(str(media / "dog-on-bench.png")) as opened:
        assert opened.frame_count == 1 and not opened.animated


@pytest.mark.parametrize(("start", "end", "message"), [
    (5, 3, "starts at frame 5, after its end at frame 3"),
    (11, None, "has 11 frames"),
    (-1, 3, "negative"),
    (0, -2, "negative"),
])
def test_bad_slices_name_the_file_and_values(media: Path, start: int, end: int | None,
                                             message: str) -> None:
    with open_media(str(media / "kitten.gif")) as opened:
        with pytest.raises(DgenerateError, match="kitten.gif") as error:
            check_slice(opened, start, end)
        assert message in str(error.value)
        with pytest.raises(DgenerateError):  # frames() checks before decoding anything
            opened.frames(start, end)


def test_slices_default_and_clip(media: Path) -> None:
    with open_media(str(media / "kitten.gif")) as opened:
        assert check_slice(opened, None, None) == (0, 10)
        assert check_slice(opened, 4, None) == (4, 10)
        assert check_slice(opened, 2, 99) == (2, 10)
        assert check_slice(opened, 10, 10) == (10, 10)


def truncated(source: Path, target: Path) -> str:
    target.write_bytes(source.read_bytes()[:3000])
    return str(target)


def audio_only(path: Path) -> str:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return str(path)


@pytest.mark.parametrize("name", ["noise.mp4", "noise.png", "noise.gif", "noise.bin"])
def test_random_bytes_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    with pytest.raises(DgenerateError, match=name):
        open_media(str(path))


def test_damaged_and_missing_files_are_refused(tmp_path: Path, media: Path) -> None:
    cases = {
        truncated(media / "dog-on-bench.png", tmp_path / "cut.png"): "truncated",
        truncated(media / "horse-ride.mp4", tmp_path / "cut.mp4"): "cut.mp4",
        audio_only(tmp_path / "sound.mp4"): "no video stream",
        str(tmp_path / "missing.gif"): "does not exist",
        str(tmp_path): "is a folder",
    }
    for path, message in cases.items():
        with pytest.raises(DgenerateError, match=Path(path).name) as error:
            open_media(path)
        assert message in str(error.value)


# --- writing ---------------------------------------------------------------------------

ROUND_TRIPS = [
    ("mp4", 29.97, (33, 17)),  # a fractional rate and odd sizes: padded to (34, 18)
    ("mp4", 30000 / 1001, (64, 48)),
    ("gif", 10, (31, 17)),
    ("webp", 12.5, (31, 17)),
    ("apng", 30000 / 1001, (31, 17)),
    ("png", 24, (16, 9)),
]


def check_round_trip(path: Path, fps: float, size: tuple[int, int], *,
                     tolerance: int = 16) -> None:
    written = solid_frames(size)
    with open_media(str(path)) as opened:
        assert opened.frame_count == len(written)
        expected_size = ((size[0] + 1) // 2 * 2, (size[1] + 1) // 2 * 2) if (
            path.suffix == ".mp4") else size
        assert opened.size == expected_size
        assert opened.fps == pytest.approx(fps, rel=0.002)
        for frame, colour in zip(opened.frames(), COLOURS, strict=True):
            assert np.abs(pixels(frame) - np.array(colour)).max() <= tolerance


@pytest.mark.parametrize(("animation_format", "fps", "size"), ROUND_TRIPS)
def test_round_trip(tmp_path: Path, animation_format: str, fps: float,
                    size: tuple[int, int]) -> None:
    path = tmp_path / f"animation.{animation_format}"
    write_animation(str(path), animation_format, fps, solid_frames(size))
    check_round_trip(path, fps, size)
    assert [item.name for item in tmp_path.iterdir()] == [path.name]


def test_every_format_has_a_round_trip() -> None:
    assert {case[0] for case in ROUND_TRIPS} == set(ANIMATION_FORMATS)


def test_mp4_falls_back_to_mpeg4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing, "_mp4_codec", lambda: "mpeg4")
    path = tmp_path / "fallback.mp4"
    write_animation(str(path), "mp4", 30000 / 1001, solid_frames((33, 17)))
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    check_round_trip(path, 30000 / 1001, (33, 17), tolerance=24)


def test_mp4_is_h264(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_animation(str(path), "mp4", 8, solid_frames((16, 16), 3))
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_odd_sizes_are_padded_with_the_edge(tmp_path: Path) -> None:
    image = Image.new("RGB", (5, 3), (0, 0, 255))
    image.paste((255, 0, 0), (4, 0, 5, 3))  # a red last column
    padded = writing._pad_to_even(image)
    assert padded.size == (6, 4)
    assert padded.getpixel((5, 3)) == (255, 0, 0) and padded.getpixel((0, 3)) == (0, 0, 255)


@pytest.mark.parametrize("animation_format", ANIMATION_FORMATS)
def test_nothing_appears_before_close(tmp_path: Path, animation_format: str) -> None:
    path = tmp_path / f"animation.{animation_format}"
    with AnimationWriter(str(path), animation_format, 10) as writer:
        for frame in solid_frames((16, 16), 3):
            writer.write(frame)
            assert not path.exists()
    assert path.exists()
    assert [item.name for item in tmp_path.iterdir()] == [path.name]


def test_gif_frames_wait_on_disk(tmp_path: Path) -> None:
    with AnimationWriter(str(tmp_path / "a.gif"), "gif", 10) as writer:
        for frame in solid_frames((16, 16), 3):
            writer.write(frame)
        spilled = sorted(path.name for path in tmp_path.rglob("*.png"))
        assert spilled == ["00000000.png", "00000001.png", "00000002.png"]
    assert [item.name for item in tmp_path.iterdir()] == ["a.gif"]


@pytest.mark.parametrize("animation_format", ANIMATION_FORMATS)
@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_an_interruption_leaves_nothing(tmp_path: Path, animation_format: str,
                                        interruption: type[BaseException]) -> None:
    path = tmp_path / f"animation.{animation_format}"
    with pytest.raises(interruption), AnimationWriter(str(path), animation_format, 10) as writer:
        for frame in solid_frames((16, 16), 3):
            writer.write(frame)
        raise interruption
    assert list(tmp_path.iterdir()) == []


def test_an_abort_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "animation.gif"
    path.write_bytes(b"previous")
    writer = AnimationWriter(str(path), "gif", 10)
    writer.write(solid_frames((8, 8), 1)[0])
    writer.abort()
    assert path.read_bytes() == b"previous"
    assert [item.name for item in tmp_path.iterdir()] == [path.name]


def test_frames_of_another_size_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "animation.mp4"
    with pytest.raises(ValueError, match="first frame"), AnimationWriter(
            str(path), "mp4", 10) as writer:
        writer.write(Image.new("RGB", (16, 16)))
        writer.write(Image.new("RGB", (16, 18)))
    assert list(tmp_path.iterdir()) == []


def test_closing_without_frames_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        AnimationWriter(str(tmp_path / "a.gif"), "gif", 10).close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("animation_format", ["avi", "jpg", ""])
def test_unknown_formats_are_refused(tmp_path: Path, animation_format: str) -> None:
    with pytest.raises(DgenerateError, match="unknown animation format"):
        AnimationWriter(str(tmp_path / "a.out"), animation_format, 10)


@pytest.mark.parametrize("fps", [0, -3, float("nan"), float("inf")])
def test_bad_frame_rates_are_refused(tmp_path: Path, fps: float) -> None:
    with pytest.raises(DgenerateError, match="frame rate"):
        AnimationWriter(str(tmp_path / "a.gif"), "gif", fps)


def test_formats_ignore_case(tmp_path: Path) -> None:
    write_animation(str(tmp_path / "a.gif"), "GIF", 10, solid_frames((8, 8), 2))
    with open_media(str(tmp_path / "a.gif")) as opened:
        assert opened.frame_count == 2


@pytest.mark.parametrize("module", ["dgenerate.plugin_api.media.reading",
                                    "dgenerate.plugin_api.media.writing"])
def test_importing_loads_no_media_library(module: str) -> None:
    """PyAV and Pillow load when a file is opened or written, not when ``--help`` runs."""
    assert_import_light(module, forbidden=(*HEAVY_MODULES, "av", "PIL", "numpy"))


def test_a_closed_media_refuses_frames(media: Path) -> None:
    for name in ("kitten.gif", "horse-ride.mp4"):
        opened = open_media(str(media / name))
        opened.close()
        with pytest.raises(ValueError, match="closed"):
            opened.frames()
