"""``--model-type upscaler-x4`` and ``upscaler-x2`` through the command line, on tiny models."""

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


def square(media: Path, side: int) -> str:
    return f"{media / 'horse1.jpg'};resize={side}x{side};aspect=false"


# ------------------------------------------------------------------ upscaler-x4


def test_x4_output_is_four_times_the_input(tiny_upscaler_x4: Path, tmp_path: Path,
                                           media: Path) -> None:
    ok(tiny_upscaler_x4, tmp_path, "--model-type", "upscaler-x4", "--seeds", "1",
       "--prompts", "a photo of a dog; blurry", "--image-seeds", square(media, 16),
       "--vae-tiling", "--vae-slicing")
    assert names(tmp_path) == ["s_1_unl_20_g_5-0_i_2_step_1.png"]  # the default noise level
    assert size_of(tmp_path / "s_1_unl_20_g_5-0_i_2_step_1.png") == (64, 64)


def test_x4_noise_levels_are_an_axis(tiny_upscaler_x4: Path, tmp_path: Path,
                                     media: Path) -> None:
    ok(tiny_upscaler_x4, tmp_path, "--model-type", "upscaler-x4", "--seeds", "1",
       "--image-seeds", square(media, 16), "--upscaler-noise-levels", "0", "100")
    assert names(tmp_path) == ["s_1_unl_0_g_5-0_i_2_step_1.png",
                               "s_1_unl_100_g_5-0_i_2_step_2.png"]
    first, second = (tmp_path / name for name in names(tmp_path))
    assert not np.array_equal(pixels(first), pixels(second))


def test_x4_output_size_resizes_the_input(tiny_upscaler_x4: Path, tmp_path: Path,
                                          media: Path) -> None:
    # 1279x719 -> 32 wide with the aspect kept, 16 high (aligned to 8) -> upscaled 4x
    ok(tiny_upscaler_x4, tmp_path, "--model-type", "upscaler-x4", "--seeds", "2",
       "--image-seeds", str(media / "horse1.jpg"), "--output-size", "32", "--batch-size", "2")
    assert names(tmp_path) == ["s_2_unl_20_g_5-0_i_2_step_1_image_1.png",
                               "s_2_unl_20_g_5-0_i_2_step_1_image_2.png"]
    for name in names(tmp_path):
        assert size_of(tmp_path / name) == (128, 64)


def test_x4_noise_level_above_the_models_limit(tiny_upscaler_x4: Path, tmp_path: Path,
                                               media: Path) -> None:
    result = render(tiny_upscaler_x4, tmp_path, "--model-type", "upscaler-x4",
                    "--image-seeds", square(media, 16), "--upscaler-noise-levels", "351")
    assert result.exit_code == 1
    assert "--upscaler-noise-levels 351" in result.stderr and "up to 350" in result.stderr


def test_x4_output_config_reproduces_the_image_exactly(tiny_upscaler_x4: Path, tmp_path: Path,
                                                       media: Path) -> None:
    ok(tiny_upscaler_x4, tmp_path / "first", "--model-type", "upscaler-x4", "--seeds", "4",
       "--prompts", "a cat", "--image-seeds", square(media, 16), "-uns", "30",
       "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert "--upscaler-noise-levels 30" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    [image] = sorted((tmp_path / "first").glob("*.png"))
    assert np.array_equal(pixels(image), pixels(tmp_path / "again" / image.name))


# ------------------------------------------------------------------ upscaler-x2


def test_x2_output_is_twice_the_input(tiny_upscaler_x2: Path, tmp_path: Path,
                                      media: Path) -> None:
    ok(tiny_upscaler_x2, tmp_path, "--model-type", "upscaler-x2", "--seeds", "1",
       "--prompts", "a photo of a dog; blurry", "--image-seeds", str(media / "horse1.jpg"),
       "--output-size", "96x64", "--no-aspect", "--model-cpu-offload")
    assert names(tmp_path) == ["s_1_g_5-0_i_2_step_1.png"]
    assert size_of(tmp_path / "s_1_g_5-0_i_2_step_1.png") == (192, 128)


def test_x2_input_sizes_it_cannot_take(tiny_upscaler_x2: Path, tmp_path: Path,
                                       media: Path) -> None:
    result = render(tiny_upscaler_x2, tmp_path, "--model-type", "upscaler-x2",
                    "--image-seeds", square(media, 72))
    assert result.exit_code == 1
    assert ("cannot upscale a 72x72 image: the sides must be multiples of 32 and at least 64 "
            "pixels") in result.stderr
    assert "Traceback" not in result.stderr


def test_x2_schedulers(tiny_upscaler_x2: Path, tmp_path: Path, media: Path) -> None:
    listed = render(tiny_upscaler_x2, tmp_path, "--model-type", "upscaler-x2",
                    "--image-seeds", square(media, 64), "--scheduler", "help")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.split(":", 1)[1].split() == ['"EulerDiscreteScheduler"']
    refused = render(tiny_upscaler_x2, tmp_path, "--model-type", "upscaler-x2",
                     "--image-seeds", square(media, 64), "--schedulers", "DDIMScheduler")
    assert refused.exit_code == 1
    assert "'DDIMScheduler' cannot drive --model-type upscaler-x2" in refused.stderr


def test_x2_output_config_reproduces_the_image_exactly(tiny_upscaler_x2: Path, tmp_path: Path,
                                                       media: Path) -> None:
    ok(tiny_upscaler_x2, tmp_path / "first", "--model-type", "upscaler-x2", "--seeds", "4",
       "--prompts", "a cat", "--image-seeds", square(media, 64), "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    [image] = sorted((tmp_path / "first").glob("*.png"))
    assert np.array_equal(pixels(image), pixels(tmp_path / "again" / image.name))


# ---------------------------------------------------------------------- both


@pytest.mark.parametrize(("model_type", "arguments", "message"), [
    ("upscaler-x2", ["--upscaler-noise-levels", "20"],
     "--upscaler-noise-levels does not apply to --model-type upscaler-x2"),
    ("upscaler-x4", ["--image-seed-strengths", "0.5"],
     "--image-seed-strengths does not apply to --model-type upscaler-x4"),
    ("upscaler-x2", ["--image-seed-strengths", "0.5"],
     "--image-seed-strengths does not apply to --model-type upscaler-x2"),
    ("upscaler-x4", ["--sigmas", "1.0,0.5"], "--sigmas does not apply to --model-type upscaler-x4"),
    ("upscaler-x2", ["--sigmas", "1.0,0.5"], "--sigmas does not apply to --model-type upscaler-x2"),
    ("upscaler-x2", ["--safety-checker"],
     "--safety-checker does not apply to --model-type upscaler-x2"),
    ("upscaler-x4", ["--clip-skips", "1"],
     "--clip-skips does not apply to --model-type upscaler-x4"),
    ("upscaler-x4", ["--upscaler-noise-levels", "-1"], "--upscaler-noise-levels"),
])
def test_what_the_upscalers_do_not_take(tmp_path: Path, media: Path, model_type: str,
                                        arguments: list[str], message: str) -> None:
    result = run_cli("./no/such/upscaler", "--model-type", model_type, "--dry-run",
                     "--output-path", str(tmp_path), "--image-seeds", str(media / "horse1.jpg"),
                     *arguments, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("model_type", ["upscaler-x2", "upscaler-x4"])
def test_upscalers_need_an_image(tmp_path: Path, model_type: str) -> None:
    result = run_cli("./no/such/upscaler", "--model-type", model_type, "--dry-run",
                     "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code == 1
    assert f"--model-type {model_type} does not do txt2img" in result.stderr


def test_dry_run_names(tmp_path: Path, media: Path) -> None:
    for model_type, name in (("upscaler-x4", "s_1_unl_20_g_5-0_i_30_step_1.png"),
                             ("upscaler-x2", "s_1_g_5-0_i_30_step_1.png")):
        result = run_cli("./no/such/upscaler", "--model-type", model_type, "--dry-run",
                         "--seeds", "1", "--image-seeds", str(media / "horse1.jpg"),
                         "--output-path", str(tmp_path), env=ENV)
        assert result.exit_code == 0, result.stderr
        assert f"{tmp_path}/{name}" in result.stdout
