"""``--model-type kolors`` through the command line, on a tiny random-weight Kolors model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Mode, Size
from dgenerate.plugin_api.specs import Category
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

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


def kolors(model: Path, out: Path, *args: str):
    return ok(model, out, "--model-type", "kolors", "--seeds", "1", *args)


def test_txt2img_and_img2img(tiny_kolors: Path, tmp_path: Path, media: Path) -> None:
    kolors(tiny_kolors, tmp_path / "txt2img", "--output-size", "64x48", "--prompts",
           "a red circle; blurry", "--vae-tiling", "--vae-slicing",
           "--model-cpu-offload")  # offloading is nothing to do on the CPU
    assert names(tmp_path / "txt2img") == ["s_1_g_5-0_i_2_step_1.png"]
    assert size_of(tmp_path / "txt2img" / "s_1_g_5-0_i_2_step_1.png") == (64, 48)
    kolors(tiny_kolors, tmp_path / "img2img", "--image-seeds", f"{media / 'horse1.jpg'};64",
           "--image-seed-strengths", "0.5", "1")
    assert names(tmp_path / "img2img") == ["s_1_st_0-5_g_5-0_i_2_step_1.png",
                                           "s_1_st_1-0_g_5-0_i_2_step_2.png"]
    # the input size after --output-size 64 (aspect kept, height aligned to 8)
    assert size_of(tmp_path / "img2img" / "s_1_st_0-5_g_5-0_i_2_step_1.png") == (64, 32)


def test_sigmas_and_schedulers(tiny_kolors: Path, tmp_path: Path) -> None:
    kolors(tiny_kolors, tmp_path, "--output-size", "64", "--sigmas", "14.6,7.0,0.0",
           "--schedulers", "EulerDiscreteScheduler")
    assert names(tmp_path) == ["EulerDiscreteScheduler_s_1_g_5-0_i_2_step_1.png"]


def test_default_size_is_1024() -> None:
    spec = isolated_plugin_manager().registry(Category.MODEL_TYPE).get("kolors")
    assert spec.capabilities.default_size == Size(1024, 1024)
    assert spec.capabilities.modes == {Mode.TXT2IMG, Mode.IMG2IMG}
    assert "sentencepiece" in spec.requires


def test_dry_run_plans_without_a_model(tmp_path: Path) -> None:
    result = run_cli("./no/such/kolors", "--model-type", "kolors", "--dry-run", "--seeds", "2",
                     "--output-path", str(tmp_path), "--vae-tiling", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert f"{tmp_path}/s_2_g_5-0_i_30_step_1.png" in result.stdout
    assert names(tmp_path) == []


@pytest.mark.parametrize(("arguments", "message"), [
    (["--image-seeds", "{horse};{mask}"],
     "--model-type kolors does not take an inpaint mask"),
    (["--clip-skips", "1"], "--clip-skips does not apply to --model-type kolors"),
    (["--guidance-rescales", "0.5"], "--guidance-rescales does not apply to --model-type kolors"),
    (["--safety-checker"], "--safety-checker does not apply to --model-type kolors"),
    (["--image-guidance-scales", "2"],
     "--image-guidance-scales does not apply to --model-type kolors"),
])
def test_what_kolors_does_not_do(tmp_path: Path, media: Path, arguments: list[str],
                                 message: str) -> None:
    arguments = [value.format(horse=media / "horse1.jpg", mask=media / "horse1-mask.jpg")
                 for value in arguments]
    result = run_cli("./no/such/kolors", "--model-type", "kolors", "--dry-run",
                     "--output-path", str(tmp_path), *arguments, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_single_file_checkpoint_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "kolors.safetensors"
    checkpoint.write_bytes(b"")
    result = render(checkpoint, tmp_path / "out", "--model-type", "kolors",
                    "--output-size", "64")
    assert result.exit_code == 1
    assert "diffusers cannot load KolorsPipeline from one" in result.stderr


def test_output_config_reproduces_the_image_exactly(tiny_kolors: Path, tmp_path: Path,
                                                    media: Path) -> None:
    kolors(tiny_kolors, tmp_path / "first", "--prompts", "a blue square; blurry",
           "--image-seeds", str(media / "horse1.jpg"), "--output-size", "64",
           "--guidance-scales", "6", "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert "--model-type kolors" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr.lower()
    [image] = sorted((tmp_path / "first").glob("*.png"))
    assert np.array_equal(pixels(image), pixels(tmp_path / "again" / image.name))
