"""The image-ops processors refuse values that would exhaust memory, hang or overflow.

Every case goes through the command line (image-process) and must end with exit
status 1 and one ``dgenerate: error:`` line naming the argument and its value:
never an unexpected error, a traceback or a written file. The checks happen
before anything large is allocated, so these tests stay fast and small.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli
from dgenerate.plugins_builtin.image_ops.common import (
    MAX_IMAGE_SIDE,
    MAX_KERNEL_SIZE,
    MAX_SIGMA,
)

HUGE = "9" * 400  # parses as a whole number but overflows a float or a C long

#: URI, text the message must contain; created for a 64x48 input
REFUSED = [
    # resize
    ("resize;scale=inf", "'scale' of image processor 'resize' must be one or two factors"),
    ("resize;scale=nan", "got nan"),
    ("resize;scale=-inf", "got -inf"),
    ("resize;scale=0", "larger than 0 and at most 16384, got 0.0"),
    ("resize;scale=-2", "got -2.0"),
    ("resize;scale=1e308", "got 1e+308"),
    ("resize;scale=99999", "got 99999.0"),
    ("resize;scale=2,inf", "got '2.0,inf'"),
    ("resize;scale=nan,1", "got 'nan,1.0'"),
    ("resize;size=99999999", "'size' of image processor 'resize' must be at most 16384 pixels "
                             "per side, got '99999999'"),
    ("resize;size=16385x16", "got '16385x16'"),
    (f"resize;size={HUGE}", "must be at most 16384 pixels per side"),
    ("resize;align=99999", "'align' of image processor 'resize' must be between 1 and 16384, "
                           "got 99999"),
    (f"resize;align={HUGE}", "'align'"),
    ("resize;size=4000;scale=1", "'size' or 'scale', not both"),
    # kernels and blur strength
    ("dilate;size=99999", "'size' of image processor 'dilate' must be at most 1024 pixels in "
                          "each direction, got 99999"),
    ("dilate;size=1025x3", "got '1025x3'"),
    (f"dilate;size={HUGE}", "at most 1024 pixels"),
    ("dilate;steps=99999", "'steps' of image processor 'dilate' must be between 1 and 1024"),
    ("dilate;steps=1000", "'steps' of image processor 'dilate' together with size 3x3"),
    ("dilate;size=65;steps=17", "it would be 1089"),
    (f"dilate;steps={HUGE}", "'steps'"),
    ("gaussian-blur;size=99999", "'size' of image processor 'gaussian-blur' must be at most "
                                 "1024"),
    ("gaussian-blur;size=1025x5", "got '1025x5'"),
    ("gaussian-blur;size=1024", "must be odd"),
    ("gaussian-blur;sigma-x=nan", "'sigma-x' of image processor 'gaussian-blur' must be a "
                                  "finite number between 0 and 128, got nan"),
    ("gaussian-blur;sigma-y=inf", "got inf"),
    ("gaussian-blur;sigma-x=129", "between 0 and 128, got 129.0"),
    ("lineart-standard;gaussian-sigma=inf", "'gaussian-sigma' of image processor "
                                            "'lineart-standard' must be larger than 0 and at "
                                            "most 128, got inf"),
    ("lineart-standard;gaussian-sigma=nan", "got nan"),
    ("lineart-standard;gaussian-sigma=1e308", "got 1e+308"),
    ("lineart-standard;gaussian-sigma=0", "got 0.0"),
    # canny
    (f"canny;upper={HUGE}", "'upper' of image processor 'canny' must be between 0 and 1000000"),
    ("canny;upper=1000001", "got 1000001"),
    ("canny;sigma=inf", "'sigma' of image processor 'canny' must be a finite number between "
                        "0 and 10, got inf"),
    ("canny;sigma=nan", "got nan"),
    ("canny;threshold-algo=median;sigma=11", "got 11.0"),
    # detection and working sizes
    ("canny;detect-resolution=99999", "'detect-resolution' of image processor 'canny' must be "
                                      "at most 16384 pixels per side, got '99999'"),
    (f"canny;detect-resolution={HUGE}", "'detect-resolution'"),
    ("canny;detect-align=99999", "'detect-align' of image processor 'canny' must be between 1 "
                                 "and 16384, got 99999"),
    (f"canny;detect-align={HUGE}", "'detect-align'"),
    ("lineart-standard;detect-resolution=1x99999", "got '1x99999'"),
    ("lineart-standard;detect-align=16385", "got 16385"),
    # letterbox
    ("letterbox;box-size=99999", "'box-size' of image processor 'letterbox' must be at most "
                                 "16384 pixels per side, got '99999'"),
    (f"letterbox;box-size={HUGE}", "'box-size'"),
    ("letterbox;box-size=99999;box-is-padding=true", "got '99999'"),
    ("letterbox;box-size=1x1x99999x1;box-is-padding=true", "got '1x1x99999x1'"),
    ("letterbox;box-size=100;inner-size=99999x1", "'inner-size'"),
    # paste
    ("paste;image={image};position=0x0x99999999x99999999",
     "'position' of image processor 'paste' must be a box at most 16384 pixels wide and high, "
     "got '0x0x99999999x99999999'"),
    ("paste;image={image};position=-99999999x0x99999999x10", "got '-99999999x0x99999999x10'"),
    (f"paste;image={{image}};feather={HUGE}", "'feather' of image processor 'paste' must be "
                                              "between 0 and 16384"),
    ("paste;image={image};feather=16385", "got 16385"),
    # patchmatch
    ("patchmatch;mask={image};patch-size=99999", "'patch-size' of image processor 'patchmatch' "
                                                 "must be between 1 and 64, got 99999"),
    (f"patchmatch;mask={{image}};patch-size={HUGE}", "'patch-size'"),
    # outpaint-mask
    ("outpaint-mask;box=5x5x5", "'box' of image processor 'outpaint-mask' expects"),
    ("outpaint-mask;box=-3", "got '-3'"),
    ("outpaint-mask;box=nan", "got 'nan'"),
]

#: URI, text of the message, for a 40x200 input: only known once the input's size is
GROWN_TOO_LARGE = [
    ("resize;size=16384", "image processor 'resize': size=16384 would make a 16384x81920 image "
                          "from the 40x200 input"),
    ("resize;scale=1,100", "scale=1,100 would make a 40x20000 image"),
    ("resize;scale=10000", "scale=10000 would make a 400000x2000000 image"),
    ("resize;size=16000;align=1000", "size=16000 with align=1000 would make a 16000x80000"),
    ("canny;detect-resolution=16384", "image processor 'canny': detect-resolution=16384 would "
                                      "make a 16384x81920 image"),
    ("lineart-standard;detect-resolution=8000", "detect-resolution=8000 would make a "
                                                "8000x40000 image"),
    ("letterbox;box-size=16384x10;box-is-padding=true",
     "image processor 'letterbox': box-size=16384x10 as padding would make a 32808x220 image"),
]


def write_image(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, (90, 140, 200)).save(path)
    return path


def process(tmp_path: Path, source: Path, uri: str):
    output = tmp_path / "result.png"
    result = run_cli("--sub-command", "image-process", str(source), "-p",
                     uri.format(image=source), "-o", str(output))
    return result, output


def assert_refused(result, output: Path, fragment: str) -> None:
    message = result.stderr.strip()
    assert result.exit_code == 1, message
    assert message.startswith("dgenerate: error: "), message
    assert "\n" not in message, message
    assert "unexpected" not in message and "Traceback" not in message, message
    assert fragment in message, message
    assert not output.exists()


@pytest.mark.parametrize(("uri", "fragment"), REFUSED, ids=[uri[:60] for uri, _ in REFUSED])
def test_out_of_range_arguments_are_refused(tmp_path: Path, uri: str, fragment: str) -> None:
    source = write_image(tmp_path / "in.png", (64, 48))
    assert_refused(*process(tmp_path, source, uri), fragment)


@pytest.mark.parametrize(("uri", "fragment"), GROWN_TOO_LARGE,
                         ids=[uri for uri, _ in GROWN_TOO_LARGE])
def test_results_larger_than_the_limit_are_refused(tmp_path: Path, uri: str,
                                                    fragment: str) -> None:
    source = write_image(tmp_path / "tall.png", (40, 200))
    result, output = process(tmp_path, source, uri)
    assert_refused(result, output, fragment)
    assert "results may have at most 16384 pixels per side" in result.stderr


@pytest.mark.parametrize(("uri", "size"), [
    ("resize;size=16384x2;aspect-correct=false", (16384, 2)),
    ("resize;scale=256,0.5", (16384, 24)),
    ("letterbox;box-size=8160x0;box-is-padding=true", (16384, 48)),
    ("gaussian-blur;size=1023x1;sigma-x=128", (64, 48)),
    ("dilate;size=1024x1", (64, 48)),
    ("dilate;size=32;steps=33", (64, 48)),
    ("lineart-standard;gaussian-sigma=128", (64, 48)),
    ("canny;upper=1000000;sigma=10", (64, 48)),
])
def test_values_at_the_limits_are_accepted(tmp_path: Path, uri: str,
                                           size: tuple[int, int]) -> None:
    source = write_image(tmp_path / "in.png", (64, 48))
    result, output = process(tmp_path, source, uri)
    assert result.exit_code == 0, result.stderr
    with Image.open(output) as image:
        assert image.size == size


def test_an_input_beyond_the_limit_keeps_its_size(tmp_path: Path) -> None:
    """The limit bounds what processors create, not what they are given."""
    source = write_image(tmp_path / "wide.png", (MAX_IMAGE_SIDE + 16, 2))
    result, output = process(tmp_path, source, "resize;align=8")
    assert result.exit_code == 0, result.stderr
    with Image.open(output) as image:
        assert image.size == (MAX_IMAGE_SIDE + 16, 8)


def test_outpaint_mask_inset_forms_through_the_cli(tmp_path: Path) -> None:
    source = write_image(tmp_path / "in.png", (64, 48))
    for box, black in (("8", (8, 8, 56, 40)), ("10x20", (10, 20, 54, 28))):
        result, output = process(tmp_path, source, f"outpaint-mask;box={box}")
        assert result.exit_code == 0, result.stderr
        with Image.open(output) as mask:
            assert mask.convert("L").getbbox() is not None
            assert mask.convert("L").point(lambda value: 255 - value).getbbox() == black
        output.unlink()


def test_the_limits_are_documented() -> None:
    from .support import REPO

    manual = (REPO / "docs" / "manual" / "image-processors.md").read_text()
    for number in (MAX_IMAGE_SIDE, MAX_KERNEL_SIZE, int(MAX_SIGMA)):
        assert str(number) in manual
    result = run_cli("--image-processor-help", "resize", "dilate", "gaussian-blur")
    assert result.exit_code == 0
    for number in (MAX_IMAGE_SIDE, MAX_KERNEL_SIZE, int(MAX_SIGMA)):
        assert str(number) in result.stdout
