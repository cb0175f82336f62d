"""``--model-type flux`` through the command line, on a tiny random-weight Flux model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Mode, Size
from dgenerate.plugin_api.specs import Category
from dgenerate.plugin_api.testing import check_model_type, isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Flux folder (CLIP + T5, guidance embeds)."""
    from .tiny_flux import build_flux

    return build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


@pytest.fixture(scope="session")
def flux_lora(tiny_flux: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A diffusers-format LoRA on the tiny Flux transformer's attention (random weights)."""
    import os

    import torch
    from diffusers import FluxPipeline

    from .tiny_submodels import _lora_pairs, _lora_targets

    targets = _lora_targets(tiny_flux, "transformer", r"attn\.(to_q|to_k|to_v)\.weight$")
    generator = torch.Generator().manual_seed(3)
    layers = {f"{module}.{part}.weight": tensor
              for module, down, up in _lora_pairs(targets, generator, 4, 0.3)
              for part, tensor in (("lora_A", down), ("lora_B", up))}
    folder = tmp_path_factory.mktemp("flux-lora")
    FluxPipeline.save_lora_weights(folder, weight_name="lora.safetensors",
                                   transformer_lora_layers=layers)
    os.chmod(folder / "lora.safetensors", 0o644)
    return folder / "lora.safetensors"


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def flux(model: Path, out: Path, *args: str):
    return ok(model, out, "--model-type", "flux", "--seeds", "1", *args)


def test_conforms(tiny_flux: Path, tmp_path: Path) -> None:
    """Every mode renders, names its files, replays its config bit for bit; a dry run
    loads nothing."""
    report = check_model_type("flux", tiny_flux, tmp_path / "conformance", guidance=3.5)
    assert set(report.modes) == {Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT}
    assert all(report.images[mode] for mode in report.modes)


def test_prompts_and_sequence_length_reach_the_pipeline(tiny_flux: Path, tmp_path: Path,
                                                        media: Path) -> None:
    result = flux(tiny_flux, tmp_path / "a", "--output-size", "64", "--prompts", "a red circle",
                  "--second-prompts", "a blue square", "--max-sequence-length", "77",
                  "--guidance-scales", "3.5", "-v")
    call = next(line for line in result.stderr.splitlines() if "pipeline call:" in line)
    assert "prompt=['a red circle']" in call and "prompt_2=['a blue square']" in call
    assert "max_sequence_length=77" in call and "guidance_scale=3.5" in call
    assert "negative_prompt" not in call
    # without the option: Flux's default of 512 tokens
    result = flux(tiny_flux, tmp_path / "b", "--output-size", "64", "-v",
                  "--image-seeds", f"{media / 'horse1.jpg'};{media / 'horse1-mask.jpg'}")
    call = next(line for line in result.stderr.splitlines() if "pipeline call:" in line)
    assert "max_sequence_length=512" in call and "mask_image=" in call
    # the second prompt steers the T5 encoder: another image
    flux(tiny_flux, tmp_path / "c", "--output-size", "64", "--prompts", "a red circle")
    [first], [third] = names(tmp_path / "a"), names(tmp_path / "c")
    assert not np.array_equal(pixels(tmp_path / "a" / first), pixels(tmp_path / "c" / third))


@pytest.mark.parametrize("flag", ["--prompts", "--second-prompts"])
@pytest.mark.parametrize("dry", [True, False])
def test_a_negative_prompt_is_an_error(tiny_flux: Path, tmp_path: Path, flag: str,
                                       dry: bool) -> None:
    model = "./no/such/flux" if dry else tiny_flux
    result = render(model, tmp_path, "--model-type", "flux", flag, "a cat; blurry",
                    *(["--dry-run"] if dry else []))
    assert result.exit_code == 1
    assert (f"--model-type flux takes no negative prompt, and the {flag} value "
            "'a cat; blurry' has the negative part 'blurry'") in result.stderr
    assert "Traceback" not in result.stderr
    assert names(tmp_path) == []


@pytest.mark.parametrize(("arguments", "message"), [
    (["--max-sequence-length", "513"], "--max-sequence-length: '513' must be from 1 to 512"),
    (["--max-sequence-length", "0"], "--max-sequence-length: value '0' must be at least 1"),
    (["--output-size", "72"], "--output-size 72x72: --model-type flux makes images whose "
                              "sides are multiples of 16"),
    (["--clip-skips", "1"], "--clip-skips does not apply to --model-type flux"),
    (["--guidance-rescales", "0.5"], "--guidance-rescales does not apply to --model-type flux"),
    (["--third-prompts", "a"], "--third-prompts does not apply to --model-type flux"),
])
def test_what_flux_refuses(tmp_path: Path, arguments: list[str], message: str) -> None:
    result = run_cli("./no/such/flux", "--model-type", "flux", "--dry-run",
                     "--output-path", str(tmp_path), *arguments, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_input_size_flux_cannot_make_is_an_error(tiny_flux: Path, tmp_path: Path) -> None:
    image = tmp_path / "wide.png"
    Image.new("RGB", (64, 40), (200, 30, 30)).save(image)
    result = render(tiny_flux, tmp_path / "out", "--model-type", "flux",
                    "--image-seeds", str(image))
    assert result.exit_code == 1
    assert "this one is 64x40" in result.stderr and "Traceback" not in result.stderr


def test_schedulers_help_and_sigmas(tiny_flux: Path, tmp_path: Path) -> None:
    result = render(tiny_flux, tmp_path, "--model-type", "flux", "--schedulers", "help")
    assert result.exit_code == 0, result.stderr
    assert '"FlowMatchEulerDiscreteScheduler"' in result.stdout
    flux(tiny_flux, tmp_path / "sigmas", "--output-size", "64", "--sigmas", "1.0,0.6,0.3",
         "--schedulers", "FlowMatchEulerDiscreteScheduler")
    assert names(tmp_path / "sigmas") == [
        "FlowMatchEulerDiscreteScheduler_s_1_g_5-0_i_2_step_1.png"]


def test_sub_model_slots(tiny_flux: Path, flux_lora: Path, tmp_path: Path) -> None:
    base = flux(tiny_flux, tmp_path / "base", "--output-size", "64")
    assert base.exit_code == 0
    # the model's own VAE and text encoders through the slots: the same image
    flux(tiny_flux, tmp_path / "slots", "--output-size", "64",
         "--vae", f"AutoencoderKL;model={tiny_flux / 'vae'}",
         "--text-encoders", f"CLIPTextModel;model={tiny_flux};subfolder=text_encoder",
         f"T5EncoderModel;model={tiny_flux};subfolder=text_encoder_2")
    flux(tiny_flux, tmp_path / "lora", "--output-size", "64", "--loras",
         f"{flux_lora};scale=0.7")
    [name] = names(tmp_path / "base")
    assert np.array_equal(pixels(tmp_path / "base" / name), pixels(tmp_path / "slots" / name))
    assert not np.array_equal(pixels(tmp_path / "base" / name),
                              pixels(tmp_path / "lora" / name))


def test_capabilities_and_default_size() -> None:
    spec = isolated_plugin_manager().registry(Category.MODEL_TYPE).get("flux")
    assert spec.capabilities.modes == {Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT}
    assert spec.capabilities.slots == {
        "vae", "text_encoder", "text_encoder_2", "lora", "controlnet", "ip_adapter",
        "image_encoder", "textual_inversion", "transformer"}
    assert spec.capabilities.default_size is None  # the loaded model says
    from dgenerate.plugins_builtin.model_types.flux.family import Flux

    # the released models: no sample size in the transformer's config, 128 latent pixels
    family = object.__new__(Flux)
    pipeline = SimpleNamespace(transformer=SimpleNamespace(config=SimpleNamespace()),
                               default_sample_size=128, vae_scale_factor=8)
    family.base = lambda: pipeline
    assert family.default_size() == Size(1024, 1024)
    pipeline.transformer.config.sample_size = 64
    assert family.default_size() == Size(512, 512)
