"""Animated inputs through the render loop: frames, animation files, slices, batches."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.media.reading import open_media
from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names, render_ok, render_quick

STEM = "s_1_st_0-8_g_5-0_i_2"


def render(model: Path, out: Path, *args: str):
    return render_quick(model, out, "--seeds", "1", *args)


def ok(model: Path, out: Path, *args: str):
    return render_ok(model, out, "--seeds", "1", *args)


def test_gif_slice_to_frames_and_mp4(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_sd, tmp_path, "--image-seeds", str(media / "kitten.gif"), "--output-size", "64",
       "--frame-start", "2", "--frame-end", "4")
    assert names(tmp_path) == [f"ANIM_{STEM}_step_1.mp4", f"{STEM}_frame_1_step_1.png",
                               f"{STEM}_frame_2_step_1.png", f"{STEM}_frame_3_step_1.png"]
    with open_media(str(tmp_path / f"ANIM_{STEM}_step_1.mp4")) as animation:
        assert animation.frame_count == 3
        assert animation.size == (64, 32)  # 498x286 -> width 64, aspect height 37 -> 32
        assert abs(animation.fps - 1000 / 110) < 0.2  # the GIF's frame rate
    with Image.open(tmp_path / f"{STEM}_frame_1_step_1.png") as frame:
        assert frame.size == (64, 32)


def test_video_with_a_still_mask(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    mask = tmp_path / "mask.png"
    Image.new("RGB", (80, 48), "white").save(mask)
    ok(tiny_sd, tmp_path / "out", "--image-seeds",
       f"{media / 'horse-ride.mp4'};mask={mask};resize=64x48;aspect=false;frame-end=1",
       "--animation-format", "gif")
    assert names(tmp_path / "out") == [f"ANIM_{STEM}_step_1.gif", f"{STEM}_frame_1_step_1.png",
                                       f"{STEM}_frame_2_step_1.png"]


def test_still_seed_with_an_animated_mask_follows_the_mask(tiny_sd: Path, tmp_path: Path,
                                                            media: Path) -> None:
    ok(tiny_sd, tmp_path, "--image-seeds",
       f"{media / 'horse1.jpg'};mask={media / 'kitten.gif'};resize=64x48;aspect=false;"
       "frame-start=7", "--no-frames", "--animation-format", "webp")
    [animation] = names(tmp_path)
    assert animation == f"ANIM_{STEM}_step_1.webp"
    with open_media(str(tmp_path / animation)) as written:
        assert written.size == (64, 48)
        assert written.frame_count in (3, 4)  # frames 7..10; identical frames may merge


def test_shortest_animation_decides_and_seed_slice_overrides(tiny_sd: Path, tmp_path: Path,
                                                             media: Path) -> None:
    seed = (f"{media / 'kitten.gif'};mask={media / 'horse-ride.mp4'};resize=64x48;"
            "aspect=false;frame-start=9")
    ok(tiny_sd, tmp_path, "--image-seeds", seed, "--frame-start", "0", "--frame-end", "1",
       "--animation-format", "frames")
    assert names(tmp_path) == [f"{STEM}_frame_1_step_1.png", f"{STEM}_frame_2_step_1.png"]


def test_one_frame_slices_make_plain_images(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_sd, tmp_path, "--image-seeds", str(media / "kitten.gif") + ";64",
       "--frame-start", "3", "--frame-end", "3")
    assert names(tmp_path) == [f"{STEM}_step_1.png"]


def test_batches_of_animations(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    seed = str(media / "kitten.gif") + ";64"
    ok(tiny_sd, tmp_path / "apart", "--image-seeds", seed, "--frame-end", "1",
       "--batch-size", "2", "--animation-format", "apng")
    assert names(tmp_path / "apart") == [
        f"ANIM_{STEM}_step_1_animation_1.apng", f"ANIM_{STEM}_step_1_animation_2.apng",
        f"{STEM}_frame_1_step_1_image_1.png", f"{STEM}_frame_1_step_1_image_2.png",
        f"{STEM}_frame_2_step_1_image_1.png", f"{STEM}_frame_2_step_1_image_2.png"]
    ok(tiny_sd, tmp_path / "grid", "--image-seeds", seed, "--frame-end", "1",
       "--batch-size", "2", "--batch-grid-size", "2x1", "--no-frames")
    [animation] = names(tmp_path / "grid")
    with open_media(str(tmp_path / "grid" / animation)) as written:
        assert written.size == (128, 32) and written.frame_count == 2


def test_animation_and_frame_configs(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_sd, tmp_path / "first", "--image-seeds", str(media / "kitten.gif") + ";64",
       "--frame-start", "1", "--frame-end", "2", "--output-configs")
    configs = sorted((tmp_path / "first").glob("*.dgen"))
    assert [path.name for path in configs] == [
        f"ANIM_{STEM}_step_1.dgen", f"{STEM}_frame_1_step_1.dgen", f"{STEM}_frame_2_step_1.dgen"]
    assert "--frame-start 1 \\\n--frame-end 2" in configs[0].read_text()
    frame_config = configs[2]
    assert "--frame-start 2 \\\n--frame-end 2" in frame_config.read_text()
    again = run_cli("--file", str(frame_config), "--output-path", str(tmp_path / "again"),
                    env=ENV)
    assert again.exit_code == 0, again.stderr
    with Image.open(tmp_path / "first" / f"{STEM}_frame_2_step_1.png") as frame, \
            Image.open(tmp_path / "again" / f"{STEM}_step_1.png") as repeated:
        assert np.array_equal(np.asarray(frame), np.asarray(repeated))


def test_frame_config_of_a_seed_with_its_own_slice(tiny_sd: Path, tmp_path: Path,
                                                   media: Path) -> None:
    """The seed's frame-start/frame-end must not win over the frame the config pins."""
    ok(tiny_sd, tmp_path / "first", "--image-seeds",
       str(media / "kitten.gif") + ";64;frame-start=1;frame-end=2", "--output-configs")
    frame_config = tmp_path / "first" / f"{STEM}_frame_2_step_1.dgen"
    text = frame_config.read_text()
    assert "frame-start=" not in text and "--frame-start 2 \\\n--frame-end 2" in text
    again = run_cli("--file", str(frame_config), "--output-path", str(tmp_path / "again"),
                    env=ENV)
    assert again.exit_code == 0, again.stderr
    assert names(tmp_path / "again") == [f"{STEM}_step_1.png"]
    with Image.open(tmp_path / "first" / f"{STEM}_frame_2_step_1.png") as frame, \
            Image.open(tmp_path / "again" / f"{STEM}_step_1.png") as repeated:
        assert np.array_equal(np.asarray(frame), np.asarray(repeated))
    animation_config = (tmp_path / "first" / f"ANIM_{STEM}_step_1.dgen").read_text()
    assert "--frame-start 1 \\\n--frame-end 2" in animation_config


def test_last_animations_variable(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    script = tmp_path / "s.dgen"
    script.write_text(textwrap.dedent(f"""
        {tiny_sd} --image-seeds "{media / 'kitten.gif'};64" --frame-end 1 --seeds 1
        --inference-steps 2 --output-path {tmp_path / 'out'}
        \\print {{{{ last_animations }}}}
        \\print {{{{ last_images | length }}}}
        """))
    result = run_cli("--file", str(script), env=ENV)
    assert result.exit_code == 0, result.stderr
    animations, count = result.stdout.splitlines()[-2:]
    assert animations == str([str(tmp_path / "out" / f"ANIM_{STEM}_step_1.mp4")])
    assert count == "2"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--image-seeds", "{kitten};frame-start=11"], "starts at frame 11, but the file has 11 "
                                                   "frames"),
    (["--image-seeds", "{kitten}", "--frame-start", "4", "--frame-end", "2"],
     "--frame-start 4 is after --frame-end 2"),
    (["--image-seeds", "{kitten}", "--animation-format", "avi"], "unknown format 'avi'"),
    (["--image-seeds", "{kitten}", "--no-frames", "--animation-format", "frames"],
     "--no-frames cannot be used with --animation-format frames"),
    (["--image-seeds", "{kitten}", "--output-metadata"], "cannot carry metadata"),
    (["--image-seeds", "{broken}"], "cannot read"),
])
def test_bad_animation_input(tiny_sd: Path, tmp_path: Path, media: Path,
                             arguments: list[str], message: str) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    arguments = [value.format(kitten=media / "kitten.gif", broken=broken) for value in arguments]
    result = render(tiny_sd, tmp_path / "out", *arguments)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or names(tmp_path / "out") == []


def test_metadata_on_frames_only_is_fine(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_sd, tmp_path, "--image-seeds", str(media / "kitten.gif") + ";64", "--frame-end",
       "1", "--animation-format", "frames", "--output-metadata")
    with Image.open(tmp_path / f"{STEM}_frame_2_step_1.png") as frame:
        assert "--frame-start 1" in frame.text["DgenerateConfig"]
