"""The image-process sub-command and the \\image_process directive."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.media.reading import open_media
from dgenerate.plugin_api.testing import run_cli

from .source_fixtures import FileServer, serve

ENV = {"DGENERATE_DISABLE_PLUGINS": "*"}


def process(*args: str, cwd: Path | None = None):
    return run_cli("--sub-command", "image-process", *args, env=ENV,
                   cwd=str(cwd) if cwd else None)


def ok(*args: str, cwd: Path | None = None):
    result = process(*args, cwd=cwd)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture
def work(tmp_path: Path, media: Path) -> Path:
    """A folder with copies of the media (results go next to inputs by default)."""
    for name in ("horse1.jpg", "dog-on-bench.png", "kitten.gif"):
        shutil.copy(media / name, tmp_path / name)
    return tmp_path


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_the_manuals_naming_examples(work: Path) -> None:
    ok("dog-on-bench.png", "--resize", "64x64", cwd=work)
    assert size(work / "dog-on-bench_processed_1.png") == (64, 64)
    ok("dog-on-bench.png", "-o", "my_dir/", "--resize", "32x48", "--no-aspect", cwd=work)
    assert size(work / "my_dir" / "dog-on-bench_processed_1.png") == (32, 48)
    ok("dog-on-bench.png", "horse1.jpg", "-o", "both/", "--resize", "64", cwd=work)
    assert sorted(path.name for path in (work / "both").iterdir()) == [
        "dog-on-bench_processed_1.png", "horse1_processed_2.jpg"]
    ok("dog-on-bench.png", "horse1.jpg", "-o", "one/renamed.png", "two/", "--resize", "64",
       cwd=work)
    assert (work / "one" / "renamed.png").is_file()
    assert (work / "two" / "horse1_processed_2.jpg").is_file()
    original = (work / "horse1.jpg").read_bytes()
    ok("horse1.jpg", "--resize", "64", "--output-overwrite", cwd=work)
    assert size(work / "horse1.jpg") == (64, 36) and (work / "horse1.jpg").read_bytes() != original


def test_duplicates_are_numbered(work: Path) -> None:
    for _ in range(2):
        ok("dog-on-bench.png", "-o", "out/x.png", cwd=work)
    assert sorted(path.name for path in (work / "out").iterdir()) == ["x.png",
                                                                      "x_duplicate_1.png"]


def test_processors_resize_and_align(work: Path) -> None:
    ok("horse1.jpg", "-o", "out.png", "-p", "flip", "invert", "--resize", "100", "--align",
       "16", cwd=work)
    with Image.open(work / "horse1.jpg") as original:
        expected = original.convert("RGB").resize((96, 48), Image.Resampling.LANCZOS)
    expected = 255 - np.asarray(expected)[::-1]
    with Image.open(work / "out.png") as result:
        assert result.size == (96, 48)
        assert np.array_equal(np.asarray(result), expected)
    ok("horse1.jpg", "-o", "aligned.png", "--align", "100", cwd=work)
    assert size(work / "aligned.png") == (1200, 700)


def test_pre_resize_processors_see_the_original(work: Path) -> None:
    ok("horse1.jpg", "-o", "out.png", "-p", f"flip;pre-resize=true;output-file={work / 'b.png'}",
       "--resize", "64", cwd=work)
    assert size(work / "b.png") == (1279, 719)


def test_animations(work: Path) -> None:
    ok("kitten.gif", "-o", "anim/kitten.mp4", "-p", "grayscale", "--frame-start", "2",
       "--frame-end", "4", "--resize", "64", cwd=work)
    assert sorted(path.name for path in (work / "anim").iterdir()) == [
        "kitten.mp4", "kitten_frame_1.png", "kitten_frame_2.png", "kitten_frame_3.png"]
    with open_media(str(work / "anim" / "kitten.mp4")) as video:
        assert video.frame_count == 3 and video.size == (64, 38)  # 64x37, padded even for H.264
    ok("kitten.gif", "-o", "only/k.gif", "--no-frames", "--frame-end", "1", cwd=work)
    assert [path.name for path in (work / "only").iterdir()] == ["k.gif"]
    ok("kitten.gif", "-o", "frames/k.gif", "--no-animation-file", "--frame-end", "1",
       "--frame-format", "jpg", cwd=work)
    assert sorted(path.name for path in (work / "frames").iterdir()) == [
        "k_frame_1.jpg", "k_frame_2.jpg"]


def test_sub_command_help() -> None:
    result = process("--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("usage: image-process [-h] [-p PROCESSORS [PROCESSORS ...]]")


@pytest.fixture
def server() -> Iterator[FileServer]:
    yield from serve()


def test_url_inputs(work: Path, server: FileServer) -> None:
    url = server.add("/images/dog.png", work / "dog-on-bench.png")
    without = process(url, cwd=work)
    assert without.exit_code == 1
    assert "is a URL; give an output file or folder with -o" in without.stderr
    ok(url, "-o", "from-url.png", "--resize", "32", cwd=work)
    assert size(work / "from-url.png") == (32, 32)


@pytest.mark.parametrize(("args", "message"), [
    (["missing.png"], "'missing.png' does not exist"),
    (["horse1.jpg", "-p", "flp"], "unknown image processor 'flp'"),
    (["horse1.jpg", "-p", "flip;sise=2"], "has no argument 'sise'"),
    (["horse1.jpg", "dog-on-bench.png", "-o", "a.png", "b.png", "c.png"],
     "2 inputs but 3 outputs"),
    (["horse1.jpg", "-o", "x.nothing"], "has no image format extension"),
    (["kitten.gif", "-o", "x.png", "--frame-format", "xyz"], "--frame-format 'xyz' is not one"),
    (["kitten.gif", "-o", "x.avi"], "must end with an animation format"),
    (["kitten.gif", "-o", "x.gif", "--frame-start", "40"], "past the last frame"),
    (["horse1.jpg", "--resize", "axb"], "--resize"),
    (["horse1.jpg", "-o", "horse1.jpg/inside.png"], "horse1.jpg"),
    (["horse1.jpg", "--resize", "99999999"], "above the limit of 16384 pixels"),
    (["horse1.jpg", "--align", "99999999"], "--align '99999999' is above the limit of 16384"),
    (["tall.png", "--resize", "16384", "-o", "big.png"], "makes a 16384x1638400 image of the "
                                                          "8x800 input, above the limit"),
])
def test_errors(work: Path, args: list[str], message: str) -> None:
    from PIL import Image

    Image.new("RGB", (8, 800)).save(work / "tall.png")
    before = sorted(path.name for path in work.iterdir())
    result = process(*args, cwd=work)
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in work.iterdir()) == before


def test_exclusive_frame_options_are_a_usage_error(work: Path) -> None:
    assert process("kitten.gif", "-nf", "-naf", cwd=work).exit_code == 2


def test_directive_sets_variables_and_help_does_not_exit(work: Path) -> None:
    script = work / "s.dgen"
    script.write_text(textwrap.dedent("""
        \\image_process --help
        \\image_process horse1.jpg kitten.gif -o out/ -p mirror --resize 32 --frame-end 1
        \\print {{ last_images | length }} {{ last_animations }}
        """))
    result = run_cli("--file", str(script), env=ENV, cwd=str(work))
    assert result.exit_code == 0, result.stderr
    assert "usage: \\image_process" in result.stdout
    assert result.stdout.splitlines()[-1] == "3 ['out/kitten_processed_2.gif']"
    assert sorted(path.name for path in (work / "out").iterdir()) == [
        "horse1_processed_1.jpg", "kitten_processed_2.gif", "kitten_processed_2_frame_1.png",
        "kitten_processed_2_frame_2.png"]
