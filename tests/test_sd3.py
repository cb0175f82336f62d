"""``--model-type sd3`` through the command line, on a tiny random-weight SD3 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Mode
from dgenerate.plugin_api.specs import Category
from dgenerate.plugin_api.testing import check_model_type, isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render


def _save_readable(model, folder: Path) -> Path:
    model.save_pretrained(folder)
    for path in folder.iterdir():
        path.chmod(0o644)  # safetensors writes 0600 files
    return folder


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Stable Diffusion 3 folder (64 px native size)."""
    from .tiny_sd3 import build_sd3

    return build_sd3(tmp_path_factory.mktemp("models") / "tiny-sd3")


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def sd3(model: Path, out: Path, *args: str):
    return ok(model, out, "--model-type", "sd3", "--seeds", "1", "--prompts", "a red circle",
              *args)


def test_sd3_conforms(tiny_sd3: Path, tmp_path: Path) -> None:
    report = check_model_type("sd3", tiny_sd3, tmp_path / "conformance",
                              axes={"--clip-skips": ["0", "1"]})
    assert report.modes == ("txt2img", "img2img", "inpaint")
    assert all(report.images[mode] for mode in report.modes)


def test_prompts_of_each_encoder(tiny_sd3: Path, tmp_path: Path) -> None:
    # no --output-size: the transformer's sample size (8) x the VAE's scale factor (8)
    plain = sd3(tiny_sd3, tmp_path / "plain", "-v")
    assert "max_sequence_length=256" in plain.stderr  # sd3's default
    [image] = sorted((tmp_path / "plain").glob("*.png"))
    assert size_of(image) == (64, 64)
    third = sd3(tiny_sd3, tmp_path / "third", "--third-prompts", "a red circle", "a blue square",
                "-v")
    assert "prompt_3=['a blue square']" in third.stderr
    assert names(tmp_path / "third") == ["s_1_g_5-0_i_2_step_1.png", "s_1_g_5-0_i_2_step_2.png"]
    same, other = (pixels(tmp_path / "third" / name) for name in names(tmp_path / "third"))
    # T5 gets the primary prompt by default; another prompt changes the picture
    assert np.array_equal(same, pixels(image))
    assert not np.array_equal(other, pixels(image))
    second = sd3(tiny_sd3, tmp_path / "second", "--second-prompts", "a green dog; small",
                 "--max-sequence-length", "16", "-v")
    assert "max_sequence_length=16" in second.stderr
    assert "prompt_2=['a green dog'], negative_prompt_2=['small']" in second.stderr
    [second] = sorted((tmp_path / "second").glob("*.png"))
    assert not np.array_equal(pixels(second), pixels(image))


def test_sub_models_and_schedules(tiny_sd3: Path, tmp_path: Path) -> None:
    from .tiny_sd3 import build_sd3_lora, sd3_vae
    from .tiny_submodels import build_text_encoder_folder, build_vae_folder

    base = sd3(tiny_sd3, tmp_path / "base", "--output-size", "64", "--sigmas", "1.0,0.6,0.0",
               "--schedulers", "FlowMatchEulerDiscreteScheduler")
    assert base.exit_code == 0
    [image] = sorted((tmp_path / "base").glob("*.png"))
    assert image.name == "FlowMatchEulerDiscreteScheduler_s_1_g_5-0_i_2_step_1.png"
    lora = build_sd3_lora(tiny_sd3, tmp_path / "lora")
    t5 = build_text_encoder_folder(tiny_sd3, tmp_path / "t5", subfolder="text_encoder_3",
                                   seed=3)
    vae = _save_readable(sd3_vae(seed=5), tmp_path / "vae")
    for name, arguments in (("lora", ["--loras", str(lora)]),
                            ("vae", ["--vae", f"AutoencoderKL;model={vae}"]),
                            ("t5", ["--text-encoders", "+", "+", f"T5EncoderModel;model={t5}"])):
        sd3(tiny_sd3, tmp_path / name, "--output-size", "64", "--sigmas", "1.0,0.6,0.0",
            "--schedulers", "FlowMatchEulerDiscreteScheduler", *arguments)
        changed = pixels(tmp_path / name / image.name)
        assert not np.array_equal(changed, pixels(image)), name
    # a VAE of another family (no shift factor) is refused in one clear sentence
    sdxl_vae = build_vae_folder(tmp_path / "sdxl-vae", latent_channels=16)
    result = render(tiny_sd3, tmp_path / "refused", "--model-type", "sd3", "--output-size", "64",
                    "--vae", f"AutoencoderKL;model={sdxl_vae}")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "needs an SD3 VAE" in result.stderr
    result = run_cli(str(tiny_sd3), "--model-type", "sd3", "--text-encoders", "help", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "T5EncoderModel (text_encoder_3)" in result.stdout


def test_capabilities() -> None:
    spec = isolated_plugin_manager().registry(Category.MODEL_TYPE).get("sd3")
    assert spec.capabilities.modes == {Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT}
    assert {"vae", "text_encoder", "lora"} <= spec.capabilities.slots


@pytest.mark.parametrize(("arguments", "message"), [
    (["--model-type", "sd", "--third-prompts", "a cat"],
     "--third-prompts does not apply to --model-type sd"),
    (["--model-type", "sdxl", "--max-sequence-length", "77"],
     "--max-sequence-length does not apply to --model-type sdxl"),
    (["--model-type", "sd3", "--max-sequence-length", "513"], "513"),
    (["--model-type", "sd3", "--guidance-rescales", "0.5"],
     "--guidance-rescales does not apply to --model-type sd3"),
])
def test_refused(tmp_path: Path, arguments: list[str], message: str) -> None:
    result = run_cli("./no/such/model", "--dry-run", "--output-path", str(tmp_path),
                     *arguments, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr
