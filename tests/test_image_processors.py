"""The pure image-operation processors of the image-ops plugin (canny, crop, resize, paste,
patchmatch ...), created through the real registry from URIs and checked against
references computed directly with OpenCV, Pillow or NumPy."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api import Category
from dgenerate.plugin_api.errors import DgenerateError, PluginArgumentError, PluginLoadError

from .source_fixtures import serve


@pytest.fixture
def context(plugin_manager) -> KernelContext:
    return KernelContext(plugin_manager)


@pytest.fixture
def create(context):
    return lambda uri: context.create(Category.IMAGE_PROCESSOR, uri)


@pytest.fixture(scope="module")
def horse() -> Image.Image:
    """A 320x240 part of horse1.jpg around the horse: small enough to keep tests fast."""
    from .support import MEDIA

    with Image.open(MEDIA / "horse1.jpg") as image:
        return image.convert("RGB").crop((400, 200, 720, 440))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def as_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def save(array: np.ndarray, path: Path) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def assert_rgb(image: Image.Image, size: tuple[int, int]) -> None:
    assert image.mode == "RGB"
    assert image.size == size


# ------------------------------------------------------------------- canny


def test_canny_defaults_match_opencv(create, horse) -> None:
    result = create("canny")(horse)
    assert_rgb(result, horse.size)
    expected = cv2.Canny(pixels(horse), 50, 100, apertureSize=3, L2gradient=False)
    assert np.array_equal(pixels(result), as_rgb(expected))
    assert expected.any() and not expected.all()


def test_canny_thresholds_aperture_and_l2(create, horse) -> None:
    result = create("canny;lower=300;upper=900;aperture-size=5;L2-gradient=true")(horse)
    expected = cv2.Canny(pixels(horse), 300, 900, apertureSize=5, L2gradient=True)
    assert np.array_equal(pixels(result), as_rgb(expected))


def test_canny_gray_and_blur(create, horse) -> None:
    result = create("canny;gray=true;blur=true;lower=20;upper=60")(horse)
    gray = cv2.cvtColor(pixels(horse), cv2.COLOR_RGB2GRAY)
    expected = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 20, 60)
    assert np.array_equal(pixels(result), as_rgb(expected))


def test_canny_otsu_thresholds(create, horse) -> None:
    result = create("canny;blur=true;threshold-algo=otsu")(horse)
    blurred = cv2.GaussianBlur(pixels(horse), (5, 5), 0)
    gray = cv2.cvtColor(blurred, cv2.COLOR_RGB2GRAY)
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    expected = cv2.Canny(blurred, otsu / 2, otsu)
    assert np.array_equal(pixels(result), as_rgb(expected))


def test_canny_median_thresholds_use_sigma(create, horse) -> None:
    result = create("canny;gray=true;threshold-algo=median;sigma=0.5")(horse)
    gray = cv2.cvtColor(pixels(horse), cv2.COLOR_RGB2GRAY)
    median = float(np.median(gray))
    expected = cv2.Canny(gray, 0.5 * median, min(255.0, 1.5 * median))
    assert np.array_equal(pixels(result), as_rgb(expected))


def test_canny_detect_resolution_returns_the_input_size(create, horse) -> None:
    result = create("canny;detect-resolution=160;detect-align=8")(horse)
    assert_rgb(result, horse.size)
    small = horse.resize((160, 120), Image.Resampling.LANCZOS)
    edges = Image.fromarray(cv2.Canny(pixels(small), 50, 100)).convert("RGB")
    expected = edges.resize(horse.size, Image.Resampling.BICUBIC)
    assert np.array_equal(pixels(result), pixels(expected))


# ---------------------------------------------------------- blur and dilate


def test_gaussian_blur_matches_opencv(create, horse) -> None:
    assert np.array_equal(pixels(create("gaussian-blur;size=9")(horse)),
                          cv2.GaussianBlur(pixels(horse), (9, 9), 0))
    result = create("gaussian-blur;size=5x9;sigma-x=2;sigma-y=3.5")(horse)
    assert np.array_equal(pixels(result), cv2.GaussianBlur(pixels(horse), (5, 9), 2, sigmaY=3.5))
    assert np.array_equal(pixels(create("gaussian-blur")(horse)),
                          cv2.GaussianBlur(pixels(horse), (5, 5), 0))


def test_dilate_matches_opencv(create, horse) -> None:
    assert np.array_equal(pixels(create("dilate")(horse)),
                          cv2.dilate(pixels(horse), np.ones((3, 3), np.uint8), iterations=1))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 5))
    result = create("dilate;size=7x5;steps=2;shape=ellipse")(horse)
    assert np.array_equal(pixels(result), cv2.dilate(pixels(horse), kernel, iterations=2))


def test_dilate_grows_a_dot_into_its_kernel(create) -> None:
    dot = np.zeros((9, 9, 3), np.uint8)
    dot[4, 4] = 255
    square = pixels(create("dilate;size=3")(Image.fromarray(dot)))
    expected = np.zeros_like(dot)
    expected[3:6, 3:6] = 255
    assert np.array_equal(square, expected)
    cross = pixels(create("dilate;size=3;shape=cross;steps=2")(Image.fromarray(dot)))[..., 0]
    assert cross[4].tolist() == [0, 0, 255, 255, 255, 255, 255, 0, 0]
    assert cross[2, 2] == 0 and cross[3, 3] == 255  # a diamond, not a square


# ------------------------------------------------------------------- tones


def test_posterize_and_solarize_match_pillow(create, horse) -> None:
    for bits in (1, 3, 8):
        assert np.array_equal(pixels(create(f"posterize;bits={bits}")(horse)),
                              pixels(ImageOps.posterize(horse, bits)))
    assert np.array_equal(pixels(create("posterize;bits=3")(horse)), pixels(horse) & 0b11100000)
    array = pixels(horse)
    assert np.array_equal(pixels(create("solarize")(horse)),
                          np.where(array >= 128, 255 - array, array))
    assert np.array_equal(pixels(create("solarize;threshold=40")(horse)),
                          pixels(ImageOps.solarize(horse, 40)))


def test_tone_operations_keep_alpha(create) -> None:
    rgba = Image.new("RGBA", (3, 2), (200, 100, 20, 77))
    solarized = create("solarize")(rgba)
    assert solarized.mode == "RGBA"
    assert pixels(solarized)[0, 0].tolist() == [55, 100, 20, 77]
    assert pixels(create("posterize;bits=2")(rgba))[0, 0].tolist() == [192, 64, 0, 77]


# ------------------------------------------------------------------ resize


def test_resize_aspect_correct_by_width(create, horse) -> None:
    result = create("resize;size=160")(horse)
    assert_rgb(result, (160, 120))
    assert np.array_equal(pixels(result),
                          pixels(horse.resize((160, 120), Image.Resampling.LANCZOS)))
    # with aspect correction the height of WIDTHxHEIGHT follows from the width
    assert create("resize;size=160x500")(horse).size == (160, 120)


def test_resize_exact_size_filters_and_scale(create, horse) -> None:
    result = create("resize;size=64x100;aspect-correct=false;algo=nearest")(horse)
    assert np.array_equal(pixels(result),
                          pixels(horse.resize((64, 100), Image.Resampling.NEAREST)))
    enlarged = create("resize;scale=1.5")(horse)
    assert np.array_equal(pixels(enlarged),
                          pixels(horse.resize((480, 360), Image.Resampling.BICUBIC)))
    stretched = create("resize;scale=0.5,2;algo=bilinear")(horse)
    assert np.array_equal(pixels(stretched),
                          pixels(horse.resize((160, 480), Image.Resampling.BILINEAR)))


def test_resize_align(create, horse) -> None:
    assert create("resize;align=64")(horse).size == (320, 256)
    assert create("resize;size=100;align=8")(horse).size == (104, 72)  # 100x75 rounded
    assert create("resize;scale=0.1;align=64")(horse).size == (64, 64)  # at least one multiple


# ------------------------------------------------------------- crop family


def test_crop_is_array_slicing(create, horse) -> None:
    result = create("crop;box=10x20x110x70")(horse)
    assert_rgb(result, (100, 50))
    assert np.array_equal(pixels(result), pixels(horse)[20:70, 10:110])
    with pytest.raises(DgenerateError, match="0x0x400x10 reaches outside the 320x240 image"):
        create("crop;box=0x0x400x10")(horse)


@pytest.fixture
def box_mask(tmp_path: Path) -> str:
    """A 320x240 mask, white in the box 100x60x150x90 except one gray pixel at its corner."""
    mask = np.zeros((240, 320), np.uint8)
    mask[60:90, 100:150] = 255
    mask[60, 100] = 40
    return save(mask, tmp_path / "mask.png")


def test_crop_to_mask_with_padding(create, horse, box_mask) -> None:
    result = create(f"crop-to-mask;mask={box_mask}")(horse)
    assert np.array_equal(pixels(result), pixels(horse)[60:90, 100:150])
    result = create(f"crop-to-mask;mask={box_mask};padding=32")(horse)
    assert np.array_equal(pixels(result), pixels(horse)[28:122, 68:182])
    result = create(f"crop-to-mask;mask={box_mask};padding=10x20x30x200")(horse)
    assert np.array_equal(pixels(result), pixels(horse)[40:240, 90:180])  # clipped at the bottom


def test_crop_to_mask_on_the_mask_itself_and_with_processors(create, horse, box_mask) -> None:
    with Image.open(box_mask) as opened:
        mask = opened.convert("RGB")
    cropped = create("crop-to-mask;padding=5x0")(mask)
    assert np.array_equal(pixels(cropped), pixels(mask)[60:90, 95:155])
    # inverted, everything but the box is white: the bounds are the whole image
    inverted = create(f"crop-to-mask;mask={box_mask};mask-processors=invert")(horse)
    assert inverted.size == horse.size
    chained = create(f"crop-to-mask;mask={box_mask};"
                     "mask-processors=\"'dilate;size=5' 'posterize;bits=1'\"")(horse)
    assert np.array_equal(pixels(chained), pixels(horse)[58:92, 98:152])
    unquoted = create(f"crop-to-mask;mask={box_mask};"
                      "mask-processors=\"dilate;size=5 posterize;bits=1\"")(horse)
    assert np.array_equal(pixels(unquoted), pixels(chained))


def test_crop_to_mask_with_a_black_mask_keeps_the_image(create, horse, tmp_path) -> None:
    black = save(np.zeros((10, 10), np.uint8), tmp_path / "black.png")
    assert np.array_equal(pixels(create(f"crop-to-mask;mask={black}")(horse)), pixels(horse))


def test_crop_to_mask_scales_a_mask_of_another_size(create, horse, tmp_path) -> None:
    mask = np.zeros((24, 32), np.uint8)
    mask[6:9, 10:15] = 255
    small = save(mask, tmp_path / "small.png")
    # the bounds are measured on the mask and scaled: 10x6x15x9 becomes 100x60x150x90
    assert np.array_equal(pixels(create(f"crop-to-mask;mask={small}")(horse)),
                          pixels(horse)[60:90, 100:150])


def test_crop_to_mask_fetches_a_mask_url(create, horse, box_mask, tmp_path,
                                         monkeypatch) -> None:
    monkeypatch.setenv("DGENERATE_CACHE", str(tmp_path / "cache"))
    for server in serve():
        url = server.add("/masks/mask.png", Path(box_mask))
        result = create(f"crop-to-mask;mask={url}")(horse)
        assert np.array_equal(pixels(result), pixels(horse)[60:90, 100:150])


def test_outpaint_mask(create, horse) -> None:
    result = create("outpaint-mask;box=10x20x110x70")(horse)
    expected = np.full((240, 320, 3), 255, np.uint8)
    expected[20:70, 10:110] = 0
    assert_rgb(result, horse.size)
    assert np.array_equal(pixels(result), expected)
    clipped = pixels(create("outpaint-mask;box=300x200x400x300")(horse))
    assert (clipped[200:, 300:] == 0).all() and clipped[:200].min() == 255


@pytest.mark.parametrize(("box", "kept"), [
    ("8", (slice(8, 32), slice(8, 56))),            # N: inset on every side
    ("10x4", (slice(4, 36), slice(10, 54))),        # HxV: left/right and top/bottom
    ("10X4", (slice(4, 36), slice(10, 54))),
    ("2x3x12x13", (slice(3, 13), slice(2, 12))),    # a box, as before
])
def test_outpaint_mask_box_forms(create, box: str, kept: tuple[slice, slice]) -> None:
    """The 1- and 2-part insets of dgenerate 5 scripts, resolved per image size."""
    result = pixels(create(f"outpaint-mask;box={box}")(Image.new("RGB", (64, 40))))
    expected = np.full((40, 64, 3), 255, np.uint8)
    expected[kept] = 0
    assert np.array_equal(result, expected)


def test_outpaint_mask_inset_follows_each_image(create) -> None:
    processor = create("outpaint-mask;box=5")
    assert pixels(processor(Image.new("RGB", (20, 12))))[5:7, 5:15].max() == 0
    assert pixels(processor(Image.new("RGB", (30, 30))))[5:25, 5:25].max() == 0


@pytest.mark.parametrize("box", ["20", "32x1", "1x20", "99999999"])
def test_outpaint_mask_inset_that_leaves_nothing_is_all_white(create, box: str) -> None:
    assert pixels(create(f"outpaint-mask;box={box}")(Image.new("RGB", (64, 40)))).min() == 255


def test_outpaint_mask_accepts_text_and_boxes_from_python() -> None:
    from dgenerate.plugins_builtin.image_ops.common import Box
    from dgenerate.plugins_builtin.image_ops.masks import OutpaintMask

    image = Image.new("RGB", (16, 16))
    by_text = pixels(OutpaintMask(box="4")(image))
    by_box = pixels(OutpaintMask(box=Box(4, 4, 12, 12))(image))
    assert np.array_equal(by_text, by_box) and by_text[4:12, 4:12].max() == 0
    with pytest.raises(PluginArgumentError, match=r"'box' of image processor 'outpaint-mask'"):
        OutpaintMask(box="1x2x3")


# ---------------------------------------------------------------- letterbox


def test_letterbox_fits_and_centres(create, horse) -> None:
    result = create("letterbox;box-size=400x400;box-color=#102030")(horse)
    assert_rgb(result, (400, 400))
    expected = np.empty((400, 400, 3), np.uint8)
    expected[:] = (0x10, 0x20, 0x30)
    expected[50:350] = pixels(horse.resize((400, 300), Image.Resampling.BICUBIC))
    assert np.array_equal(pixels(result), expected)


def test_letterbox_inner_size_and_padding(create, horse) -> None:
    result = create("letterbox;box-size=500x300;inner-size=320x240;box-color=#FFF")(horse)
    expected = np.full((300, 500, 3), 255, np.uint8)
    expected[30:270, 90:410] = pixels(horse)
    assert np.array_equal(pixels(result), expected)
    padded = create("letterbox;box-size=10x20x30x40;box-is-padding=true")(horse)
    expected = np.zeros((240 + 60, 320 + 40, 3), np.uint8)
    expected[20:260, 10:330] = pixels(horse)
    assert np.array_equal(pixels(padded), expected)
    stretched = create("letterbox;box-size=100x100;aspect-correct=false")(horse)
    assert np.array_equal(pixels(stretched),
                          pixels(horse.resize((100, 100), Image.Resampling.LANCZOS)))


# -------------------------------------------------------------------- paste


@pytest.fixture
def patch_file(tmp_path: Path) -> str:
    patch = np.zeros((20, 30, 3), np.uint8)
    patch[..., 0] = 250
    patch[..., 1] = np.arange(30, dtype=np.uint8)[None, :] * 5
    return save(patch, tmp_path / "patch.png")


def test_paste_at_a_corner_position(create, horse, patch_file) -> None:
    with Image.open(patch_file) as opened:
        patch = pixels(opened.convert("RGB"))
    result = create(f"paste;image={patch_file};position=40x30")(horse)
    expected = pixels(horse).copy()
    expected[30:50, 40:70] = patch
    assert_rgb(result, horse.size)
    assert np.array_equal(pixels(result), expected)
    # partly outside: the rest is cut off; no position means the top-left corner
    expected = pixels(horse).copy()
    expected[0:10, 0:20] = patch[10:, 10:]
    assert np.array_equal(pixels(create(f"paste;image={patch_file};position=-10x-10")(horse)),
                          expected)
    expected = pixels(horse).copy()
    expected[:20, :30] = patch
    assert np.array_equal(pixels(create(f"paste;image={patch_file}")(horse)), expected)


def test_paste_reverse_into_a_box(create, horse, tmp_path) -> None:
    background = np.full((100, 120, 3), 7, np.uint8)
    background_file = save(background, tmp_path / "background.png")
    result = create(f"paste;image={background_file};position=10x20x74x68;reverse=true")(horse)
    expected = background.copy()
    expected[20:68, 10:74] = pixels(horse.resize((64, 48), Image.Resampling.LANCZOS))
    assert_rgb(result, (120, 100))
    assert np.array_equal(pixels(result), expected)


def test_paste_feather_fades_the_edges(create, tmp_path) -> None:
    white = save(np.full((21, 21, 3), 255, np.uint8), tmp_path / "white.png")
    black = Image.new("RGB", (41, 41))
    result = pixels(create(f"paste;image={white};position=10x10;feather=4")(black))[..., 0]
    row = result[20, 10:31].astype(int)
    assert row.tolist() == [51, 102, 153, 204] + [255] * 13 + [204, 153, 102, 51]
    assert result[:10].max() == 0 and result[20, 20] == 255
    ellipse = pixels(create(f"paste;image={white};position=10x10;feather=3;"
                            "feather-shape=ellipse")(black))[..., 0]
    assert ellipse[20, 20] == 255 and ellipse[10, 10] == 0  # corners fade out completely
    assert 0 < ellipse[20, 10] < ellipse[20, 12] <= 255


def test_paste_mask_limits_the_pasted_area(create, tmp_path) -> None:
    white = save(np.full((40, 40, 3), 255, np.uint8), tmp_path / "white.png")
    mask = np.zeros((40, 40), np.uint8)
    mask[:, 20:] = 255
    mask[:, 19] = 128
    mask_file = save(mask, tmp_path / "mask.png")
    result = pixels(create(f"paste;image={white};mask={mask_file}")(Image.new("RGB", (40, 40))))
    assert result[:, :19].max() == 0 and result[:, 20:].min() == 255
    assert set(result[:, 19, 0].tolist()) == {128}


def test_paste_position_mask_with_padding_and_processors(create, horse, tmp_path) -> None:
    background = np.full((100, 120, 3), 200, np.uint8)
    background_file = save(background, tmp_path / "background.png")
    mask = np.full((100, 120), 255, np.uint8)
    mask[40:60, 50:80] = 0
    mask_file = save(mask, tmp_path / "mask.png")
    result = create(f"paste;image={background_file};position-mask={mask_file};"
                    "position-mask-processors=invert;position-mask-padding=5x10;reverse=true")(horse)
    expected = background.copy()
    expected[30:70, 45:85] = pixels(horse.resize((40, 40), Image.Resampling.LANCZOS))
    assert np.array_equal(pixels(result), expected)


def test_paste_image_processors_run_on_the_image(create, tmp_path) -> None:
    gray = save(np.full((4, 4, 3), 10, np.uint8), tmp_path / "gray.png")
    result = create(f"paste;image={gray};image-processors=invert")(Image.new("RGB", (8, 8)))
    assert pixels(result)[:4, :4].min() == 245 and pixels(result)[4:].max() == 0


# --------------------------------------------------------- lineart-standard


def test_lineart_standard_matches_its_formula(create, horse) -> None:
    result = create("lineart-standard")(horse)
    assert_rgb(result, horse.size)
    values = pixels(horse).astype(np.float32)
    strength = (cv2.GaussianBlur(values, (0, 0), 6.0) - values).min(axis=2).clip(0, 255)
    normaliser = max(16.0, float(np.median(strength[strength > 8])))
    expected = (strength / normaliser * 127).clip(0, 255).astype(np.uint8)
    assert np.abs(pixels(result).astype(int) - as_rgb(expected)).max() <= 1


def test_lineart_standard_draws_dark_strokes_white(create) -> None:
    paper = np.full((64, 64, 3), 255, np.uint8)
    paper[:, 30:33] = 0
    result = pixels(create("lineart-standard;gaussian-sigma=3")(Image.fromarray(paper)))[..., 0]
    assert result[:, 31].min() > 100 and result[:, :20].max() == 0 and result[:, 45:].max() == 0


# ---------------------------------------------------------------- patchmatch


@pytest.fixture
def two_colours() -> Image.Image:
    """Left half red, right half blue, with a green square in the blue half."""
    image = np.zeros((64, 96, 3), np.uint8)
    image[:, :48] = (200, 30, 30)
    image[:, 48:] = (30, 60, 200)
    image[24:40, 64:80] = (0, 255, 0)
    return Image.fromarray(image)


@pytest.fixture
def square_mask(tmp_path: Path) -> str:
    mask = np.zeros((64, 96), np.uint8)
    mask[22:42, 62:82] = 255
    return save(mask, tmp_path / "square.png")


def test_patchmatch_fills_a_hole_from_its_surroundings(create, two_colours, square_mask) -> None:
    result = create(f"patchmatch;mask={square_mask};seed=7")(two_colours)
    assert_rgb(result, two_colours.size)
    array = pixels(result).astype(int)
    hole = np.zeros(array.shape[:2], bool)
    hole[22:42, 62:82] = True
    assert np.array_equal(array[~hole], pixels(two_colours).astype(int)[~hole])
    assert np.abs(array[hole] - (30, 60, 200)).max() <= 10  # blue, the green square is gone
    again = create(f"patchmatch;mask={square_mask};seed=7;patch-size=3")(two_colours)
    assert np.array_equal(pixels(again), pixels(create(
        f"patchmatch;mask={square_mask};seed=7;patch-size=3")(two_colours)))


def test_patchmatch_with_the_input_as_mask(create, two_colours, tmp_path, square_mask) -> None:
    image_file = save(pixels(two_colours), tmp_path / "image.png")
    with Image.open(square_mask) as opened:
        mask = opened.convert("RGB")
    result = create(f"patchmatch;image={image_file};seed=1")(mask)
    assert_rgb(result, two_colours.size)
    assert np.abs(pixels(result)[22:42, 62:82].astype(int) - (30, 60, 200)).max() <= 10
    empty = create(f"patchmatch;image={image_file}")(Image.new("RGB", (96, 64)))
    assert np.array_equal(pixels(empty), pixels(two_colours))


def test_patchmatch_declares_its_module(plugin_manager) -> None:
    spec = plugin_manager.registry(Category.IMAGE_PROCESSOR).get("patchmatch")
    assert spec.requires == ("patchmatch",)


# -------------------------------------------------------------- validation

BAD_ARGUMENTS = [
    ("posterize", r"needs the argument 'bits'"),
    ("posterize;bits=0", r"'bits' of image processor 'posterize' must be between 1 and 8, got 0"),
    ("posterize;bits=9", r"'bits' .* got 9"),
    ("posterize;bits=two", r"argument 'bits' of image processor 'posterize' expects int, "
                           r"got 'two'"),
    ("solarize;threshold=256", r"'threshold' .* between 0 and 255, got 256"),
    ("solarize;threshold=-1", r"'threshold' .* got -1"),
    ("resize", r"needs 'size', 'scale' or 'align'"),
    ("resize;size=10;scale=2", r"'size' or 'scale', not both"),
    ("resize;size=10y", r"argument 'size' .* got '10y'"),
    ("resize;scale=0", r"'scale' .* larger than 0 .*, got 0"),
    ("resize;scale=1,2,3", r"argument 'scale' .* got '1,2,3'"),
    ("resize;align=0", r"'align' .* between 1 and 16384, got 0"),
    ("resize;size=64;algo=cubic", r"argument 'algo' .* got 'cubic' \(choose one of"),
    ("crop", r"needs the argument 'box'"),
    ("crop;box=1x2x3", r"argument 'box' .* got '1x2x3'.*LEFTxTOPxRIGHTxBOTTOM"),
    ("crop;box=10x10x5x20", r"argument 'box' .* got '10x10x5x20'.*RIGHT must be larger"),
    ("crop;box=a", r"argument 'box' of image processor 'crop' expects Box, got 'a'"),
    ("crop-to-mask;padding=1x2x3", r"argument 'padding' .* got '1x2x3'"),
    ("crop-to-mask;mask=/no/such/mask.png", r"argument 'mask' .* '/no/such/mask.png'"),
    ("crop-to-mask;mask-processors=nonsense", r"'mask-processors' .* 'nonsense'"),
    ("letterbox", r"needs the argument 'box-size'"),
    ("letterbox;box-size=abc", r"'box-size' .* 'abc'"),
    ("letterbox;box-size=10x20x30;box-is-padding=true", r"'box-size' .* '10x20x30'"),
    ("letterbox;box-size=100;box-color=#12", r"'box-color' .* got '#12'.*hex colour"),
    ("letterbox;box-size=100;box-color=orange", r"'box-color' .* got 'orange'"),
    ("letterbox;box-size=100x50;inner-size=120", r"'inner-size' .* fit inside box-size 100x50"),
    ("gaussian-blur;size=4", r"'size' of image processor 'gaussian-blur' must be odd.*got 4"),
    ("gaussian-blur;size=0", r"'size' .* got 0"),
    ("gaussian-blur;sigma-x=-1", r"'sigma-x' .* between 0 and 128, got -1"),
    ("dilate;shape=star", r"argument 'shape' .* got 'star'"),
    ("dilate;steps=0", r"'steps' .* between 1 and 1024, got 0"),
    ("canny;aperture-size=4", r"'aperture-size' .* 3, 5 or 7, got 4"),
    ("canny;lower=200;upper=100", r"'lower' .* not be larger than upper \(100\), got 200"),
    ("canny;threshold-algo=mean", r"'threshold-algo' .* got 'mean'"),
    ("canny;lowr=5", r"has no argument 'lowr'; did you mean 'lower'"),
    ("canny;detect-resolution=0", r"'detect-resolution' .* got '0'"),
    ("canny;detect-align=0", r"'detect-align' .* between 1 and 16384, got 0"),
    ("canny;sigma=-0.1", r"'sigma' .* got -0.1"),
    ("lineart-standard;gaussian-sigma=0", r"'gaussian-sigma' .* larger than 0 .*, got 0"),
    ("lineart-standard;intensity-threshold=300", r"'intensity-threshold' .* got 300"),
    ("outpaint-mask", r"needs the argument 'box'"),
    ("outpaint-mask;box=5x5x5", r"argument 'box' .* got '5x5x5'"),
    ("patchmatch", r"exactly one of 'mask' .* and 'image'"),
    ("patchmatch;mask=a.png;image=b.png", r"exactly one of"),
    ("patchmatch;image=x.png;mask-processors=invert", r"'mask-processors' needs 'mask'"),
    ("patchmatch;patch-size=0;mask=x.png", r"'patch-size' .* got 0"),
    ("paste", r"needs the argument 'image'"),
    ("paste;image=x.png;position=1x2x3", r"argument 'position' .* '1x2x3'"),
    ("paste;image=x.png;position=1x2;position-mask=m.png", r"'position' or 'position-mask'"),
    ("paste;image=x.png;position-mask-padding=4", r"need 'position-mask'"),
    ("paste;image=x.png;feather=-2", r"'feather' .* between 0 and 16384, got -2"),
    ("paste;image=x.png;feather-shape=star", r"'feather-shape' .* got 'star'"),
    ("paste;image=/no/such/image.png", r"argument 'image' .* '/no/such/image.png'"),
]


@pytest.mark.parametrize(("uri", "message"), BAD_ARGUMENTS, ids=[uri for uri, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_named(create, uri: str, message: str) -> None:
    with pytest.raises(PluginArgumentError, match=message):
        create(uri)


def test_patchmatch_without_its_module(plugin_manager, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "patchmatch" else real(name, *rest))
    with pytest.raises(PluginLoadError, match="needs the Python module patchmatch"):
        KernelContext(plugin_manager).create(Category.IMAGE_PROCESSOR, "patchmatch;mask=x.png")


# -------------------------------------------------------------------- chains


def test_a_chain_of_processors(create, horse) -> None:
    chain = [create(uri) for uri in ("crop;box=0x0x200x160", "resize;size=100",
                                     "gaussian-blur;size=3", "canny;lower=20;upper=60",
                                     "dilate", "invert")]
    image = horse
    for processor in chain:
        image = processor(image)
    assert_rgb(image, (100, 80))
    step = horse.crop((0, 0, 200, 160)).resize((100, 80), Image.Resampling.LANCZOS)
    step = cv2.GaussianBlur(pixels(step), (3, 3), 0)
    step = cv2.dilate(cv2.Canny(step, 20, 60), np.ones((3, 3), np.uint8))
    assert np.array_equal(pixels(image), as_rgb(255 - step))


def test_outpainting_chain_letterbox_then_mask(create, horse) -> None:
    """Enlarge with letterbox, mask the new border, fill it with patchmatch."""
    small = horse.resize((80, 60))
    padded = create("letterbox;box-size=16;box-is-padding=true;box-color=#888")(small)
    mask = create("outpaint-mask;box=16x16x96x76")(padded)
    assert padded.size == mask.size == (112, 92)
    assert pixels(mask)[16:76, 16:96].max() == 0 and pixels(mask)[:16].min() == 255
    assert np.array_equal(pixels(padded)[16:76, 16:96], pixels(small))


# --------------------------------------------------------------- image modes

MODE_CASES = [
    ("canny", "RGB"), ("lineart-standard", "RGB"), ("gaussian-blur", "RGB"), ("dilate", "RGB"),
    ("outpaint-mask;box=1x1x5x5", "RGB"), ("letterbox;box-size=12", "RGB"),
    ("posterize;bits=2", None), ("solarize", None), ("crop;box=0x0x4x4", None),
    ("crop-to-mask", None), ("resize;size=6", None),
]


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA"])
@pytest.mark.parametrize(("uri", "result_mode"), MODE_CASES, ids=[uri for uri, _ in MODE_CASES])
def test_every_input_mode_gives_rgb(create, mode: str, uri: str, result_mode: str | None) -> None:
    """Other modes come out as RGB; processors that keep alpha give RGBA for images with alpha."""
    image = Image.new("RGBA", (8, 8), (200, 120, 40, 255)).convert(mode)
    result = create(uri)(image)
    expected = result_mode or ("RGBA" if mode in ("RGBA", "LA") else "RGB")
    assert result.mode == expected
