"""The builtin image-ops processors, created through the real registry from URIs and
checked against references computed with other Pillow / NumPy operations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api import Category


@pytest.fixture
def create(plugin_manager):
    context = KernelContext(plugin_manager)
    return lambda uri: context.create(Category.IMAGE_PROCESSOR, uri)


@pytest.fixture
def horse(media: Path) -> Image.Image:
    with Image.open(media / "horse1.jpg") as image:
        return image.convert("RGB")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_flip_is_a_vertical_flip(create, horse: Image.Image) -> None:
    result = create("flip")(horse)
    assert np.array_equal(pixels(result), pixels(horse)[::-1])
    assert np.array_equal(pixels(result), pixels(horse.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))


def test_mirror_is_a_horizontal_flip(create, horse: Image.Image) -> None:
    result = create("mirror")(horse)
    assert np.array_equal(pixels(result), pixels(horse)[:, ::-1])


def test_grayscale_keeps_rgb_with_equal_channels(create, horse: Image.Image) -> None:
    result = create("grayscale")(horse)
    assert result.mode == "RGB" and result.size == horse.size
    array = pixels(result).astype(int)
    assert np.array_equal(array[..., 0], array[..., 1])
    assert np.array_equal(array[..., 1], array[..., 2])
    # ITU-R 601-2 luma, computed independently of Pillow (Pillow rounds in fixed point)
    red, green, blue = (pixels(horse)[..., channel].astype(float) for channel in range(3))
    luma = red * 0.299 + green * 0.587 + blue * 0.114
    assert np.abs(array[..., 0] - luma).max() <= 1


def test_invert(create, horse: Image.Image) -> None:
    result = create("invert")(horse)
    assert np.array_equal(pixels(result), 255 - pixels(horse))


def test_alpha_is_kept(create) -> None:
    rgba = Image.new("RGBA", (4, 2), (10, 20, 30, 40))
    for name in ("invert", "grayscale", "flip", "mirror"):
        result = create(name)(rgba)
        assert result.mode == "RGBA"
        assert set(np.asarray(result)[..., 3].ravel()) == {40}
    assert np.asarray(create("invert")(rgba))[0, 0].tolist() == [245, 235, 225, 40]


def test_invert_converts_palette_images(create) -> None:
    palette = Image.new("P", (2, 2), 0)
    palette.putpalette([255, 0, 0] * 256)
    assert np.asarray(create("invert")(palette))[0, 0].tolist() == [0, 255, 255]


def test_output_file_writes_changed_images_numbered(create, horse: Image.Image,
                                                    tmp_path: Path) -> None:
    target = tmp_path / "debug" / "flipped.png"
    target.parent.mkdir()
    processor = create(f"flip;output-file={target}")
    processor(horse)
    processor(horse.resize((64, 32)))
    assert sorted(path.name for path in target.parent.iterdir()) == [
        "flipped.png", "flipped_2.png"]
    with Image.open(target) as written:
        assert np.array_equal(pixels(written), pixels(horse)[::-1])
    with Image.open(target.parent / "flipped_2.png") as written:
        assert written.size == (64, 32)


def test_output_overwrite_keeps_one_file(create, horse: Image.Image, tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    processor = create(f"mirror;output-file={target};output-overwrite=true")
    processor(horse)
    processor(horse.resize((16, 16)))
    assert [path.name for path in tmp_path.iterdir()] == ["out.png"]
    with Image.open(target) as written:
        assert written.size == (16, 16)


def test_unchanged_images_are_not_written(create, tmp_path: Path) -> None:
    target = tmp_path / "same.png"
    create(f"flip;output-file={target}")(Image.new("RGB", (8, 8), "red"))
    assert not target.exists()


def test_processors_reject_unknown_arguments(create) -> None:
    from dgenerate.plugin_api.errors import PluginArgumentError

    with pytest.raises(PluginArgumentError, match="image processor 'flip' has no argument 'size'"):
        create("flip;size=5")
    with pytest.raises(PluginArgumentError, match="expects bool, got 'maybe'"):
        create("flip;output-overwrite=maybe")
