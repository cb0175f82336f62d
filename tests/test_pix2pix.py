"""``--model-type pix2pix`` through the command line, on a tiny InstructPix2Pix model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_image_guidance_scales_are_an_axis(tiny_pix2pix: Path, tmp_path: Path,
                                          media: Path) -> None:
    ok(tiny_pix2pix, tmp_path, "--model-type", "pix2pix", "--seeds", "1",
       "--prompts", "a red dog; blurry", "--image-seeds", f"{media / 'horse1.jpg'};64",
       "--image-guidance-scales", "1.5", "2", "--vae-tiling", "--vae-slicing")
    assert names(tmp_path) == ["s_1_g_5-0_igs_1-5_i_2_step_1.png",
                               "s_1_g_5-0_igs_2-0_i_2_step_2.png"]
    first, second = (tmp_path / name for name in names(tmp_path))
    assert size_of(first) == size_of(second) == (64, 32)  # the input's size
    assert not np.array_equal(pixels(first), pixels(second))


def test_default_image_guidance_scale_and_output_size(tiny_pix2pix: Path, tmp_path: Path,
                                                     media: Path) -> None:
    ok(tiny_pix2pix, tmp_path, "--model-type", "pix2pix", "--seeds", "3",
       "--image-seeds", str(media / "horse1.jpg"), "--output-size", "48x40", "--no-aspect",
       "--guidance-scales", "7")
    assert names(tmp_path) == ["s_3_g_7-0_igs_1-5_i_2_step_1.png"]
    assert size_of(tmp_path / "s_3_g_7-0_igs_1-5_i_2_step_1.png") == (48, 40)


def test_batch(tiny_pix2pix: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_pix2pix, tmp_path, "--model-type", "pix2pix", "--seeds", "1", "--batch-size", "2",
       "--image-seeds", f"{media / 'horse1.jpg'};64", "--model-sequential-offload")
    assert names(tmp_path) == ["s_1_g_5-0_igs_1-5_i_2_step_1_image_1.png",
                               "s_1_g_5-0_igs_1-5_i_2_step_1_image_2.png"]


def test_dry_run_names(tmp_path: Path, media: Path) -> None:
    result = run_cli("./no/such/pix2pix", "--model-type", "pix2pix", "--dry-run", "--seeds", "1",
                     "--image-seeds", str(media / "horse1.jpg"), "-igs", "1.25",
                     "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "image-guidance-scales=1.25" in result.stdout
    assert f"{tmp_path}/s_1_g_5-0_igs_1-25_i_30_step_1.png" in result.stdout


@pytest.mark.parametrize(("arguments", "message"), [
    ([], "--model-type pix2pix does not do txt2img: give --image-seeds"),
    (["--image-seeds", "{horse}", "--image-seed-strengths", "0.5"],
     "--image-seed-strengths does not apply to --model-type pix2pix"),
    (["--image-seeds", "{horse};{mask}"], "--model-type pix2pix does not take an inpaint mask"),
    (["--image-seeds", "{horse}", "--image-guidance-scales", "0.5"],
     "--image-guidance-scales: '0.5'"),
    (["--image-seeds", "{horse}", "--clip-skips", "1"],
     "--clip-skips does not apply to --model-type pix2pix"),
    (["--image-seeds", "{horse}", "--guidance-rescales", "0.5"],
     "--guidance-rescales does not apply to --model-type pix2pix"),
    (["--image-seeds", "{horse}", "--sigmas", "1.0,0.5"],
     "--sigmas does not apply to --model-type pix2pix"),
])
def test_what_pix2pix_does_not_do(tmp_path: Path, media: Path, arguments: list[str],
                                  message: str) -> None:
    arguments = [value.format(horse=media / "horse1.jpg", mask=media / "horse1-mask.jpg")
                 for value in arguments]
    result = run_cli("./no/such/pix2pix", "--model-type", "pix2pix", "--dry-run",
                     "--output-path", str(tmp_path), *arguments, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_image_guidance_scales_apply_to_pix2pix_only(tmp_path: Path, media: Path) -> None:
    result = run_cli("./no/such/model", "--dry-run", "--output-path", str(tmp_path),
                     "--image-seeds", str(media / "horse1.jpg"), "-igs", "2", env=ENV)
    assert result.exit_code == 1
    assert "--image-guidance-scales does not apply to --model-type sd" in result.stderr


def test_txt2img_is_refused_before_loading(tiny_pix2pix: Path, tmp_path: Path) -> None:
    result = render(tiny_pix2pix, tmp_path, "--model-type", "pix2pix")
    assert result.exit_code == 1
    assert "--model-type pix2pix does not do txt2img" in result.stderr


def test_output_config_reproduces_the_image_exactly(tiny_pix2pix: Path, tmp_path: Path,
                                                    media: Path) -> None:
    ok(tiny_pix2pix, tmp_path / "first", "--model-type", "pix2pix", "--seeds", "5",
       "--prompts", "a green cat", "--image-seeds", str(media / "horse1.jpg"),
       "--output-size", "64", "-igs", "1.75", "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert "--image-guidance-scales 1.75" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    [image] = sorted((tmp_path / "first").glob("*.png"))
    assert image.name == "s_5_g_5-0_igs_1-75_i_2_step_1.png"
    assert np.array_equal(pixels(image), pixels(tmp_path / "again" / image.name))
