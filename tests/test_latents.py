"""Latents interchange through the CLI and config scripts: tensor --image-format outputs,
latents: / latents= / tensor image seeds, --denoising-start / --denoising-end, and the
latents processor options, on tiny local models of several families."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV


@pytest.fixture(scope="session")
def tiny_flux_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_flux import build_flux

    return build_flux(tmp_path_factory.mktemp("latents-flux") / "flux")


@pytest.fixture(scope="session")
def tiny_sd3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_sd3 import build_sd3

    return build_sd3(tmp_path_factory.mktemp("latents-sd3") / "sd3")


@pytest.fixture
def models(tiny_sd: Path, tiny_sdxl: Path, tiny_kolors: Path, tiny_flux_model: Path,
           tiny_sd3_model: Path) -> dict[str, Path]:
    return {"sd": tiny_sd, "sdxl": tiny_sdxl, "kolors": tiny_kolors, "flux": tiny_flux_model,
            "sd3": tiny_sd3_model}


#: a scheduler each family can stop and resume with
_SCHEDULER = {"sd": ["--schedulers", "EulerDiscreteScheduler"], "sdxl": [], "kolors": [],
              "flux": [], "sd3": []}


def _common(model_type: str) -> list[str]:
    return ["--model-type", model_type, "--inference-steps", "10", "--seeds", "1",
            "--output-size", "64", *_SCHEDULER[model_type]]


def _ok(*args: str) -> str:
    result = run_cli(*map(str, args), env=ENV)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _fails(*args: str) -> str:
    result = run_cli(*map(str, args), env=ENV)
    assert result.exit_code == 1, result.stdout
    assert "Traceback" not in result.stderr
    return result.stderr


def _only(folder: Path, pattern: str = "*") -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("model_type", ["sd", "sdxl", "kolors", "flux", "sd3"])
def test_a_two_stage_script_renders_what_one_stage_renders(
        models: dict[str, Path], tmp_path: Path, model_type: str) -> None:
    """Stage one stops at 60 % and writes .pt latents; stage two resumes from last_images:
    the result is the image of one uninterrupted render, bit for bit."""
    model, common = models[model_type], " ".join(_common(model_type))
    # SD, SD3 and Flux take the latents with latents:, SDXL and Kolors in the image slot
    seeds = ('"{{ quote(last_images) }}"' if model_type in ("sdxl", "kolors")
             else '"latents: {{ quote(last_images) }}"')
    script = tmp_path / "two-stage.dgen"
    script.write_text(
        "#! dgenerate 5.0.0\n\n"
        f'"{model}" {common} --image-format pt --denoising-end 0.6 '
        f'--output-path "{tmp_path / "stage1"}"\n\n'
        f'"{model}" {common} --image-seeds {seeds} --denoising-start 0.6 '
        f'--output-path "{tmp_path / "stage2"}"\n')
    _ok("--file", script)
    latents = torch.load(_only(tmp_path / "stage1", "*.pt"), weights_only=True)
    assert latents.ndim == 3  # (channels, height, width), Flux's unpacked
    assert latents.shape[0] == (16 if model_type in ("flux", "sd3") else 4)
    _ok(model, *_common(model_type), "--output-path", tmp_path / "whole")
    whole = _pixels(_only(tmp_path / "whole"))
    assert np.array_equal(_pixels(_only(tmp_path / "stage2", "*.png")), whole)
    # stopping early leaves noise: the latents decoded as they are differ
    _ok(model, *_common(model_type), "--denoising-end", "0.6", "--output-path",
        tmp_path / "noisy")
    assert not np.array_equal(_pixels(_only(tmp_path / "noisy")), whole)


@pytest.mark.parametrize("model_type", ["sd", "flux"])
def test_img2img_stopped_and_resumed_with_latents_equals_one_img2img(
        models: dict[str, Path], tmp_path: Path, media: Path, model_type: str) -> None:
    """The manual's img2img form: stage two gives the image and latents= (the image only
    sets the mode there); the result is the one-stage img2img image."""
    model, image = models[model_type], media / "horse1.jpg"
    common = [*_common(model_type), "--image-seed-strengths", "0.7"]
    _ok(model, *common, "--image-seeds", image, "--denoising-end", "0.6", "--image-format",
        "pt", "--output-path", tmp_path / "stage1")
    latents = _only(tmp_path / "stage1")
    _ok(model, *common, "--image-seeds", f"{image};latents={latents}", "--denoising-start",
        "0.6", "--output-path", tmp_path / "stage2")
    _ok(model, *common, "--image-seeds", image, "--output-path", tmp_path / "whole")
    assert np.array_equal(_pixels(_only(tmp_path / "stage2")), _pixels(_only(tmp_path / "whole")))


def test_tensor_formats_and_a_tensor_decoded_by_another_familys_vae(
        models: dict[str, Path], tmp_path: Path) -> None:
    """Fully denoised SD latents (safetensors) are decoded by SDXL's VAE as its img2img
    image; 16-channel Flux VAEs refuse them by their channel counts."""
    _ok(models["sd"], *_common("sd"), "--image-format", "safetensors", "--output-path",
        tmp_path / "sd")
    from safetensors.torch import load_file

    written = _only(tmp_path / "sd")
    assert written.suffix == ".safetensors"
    assert load_file(written)["latents"].shape == (4, 8, 8)
    _ok(models["sdxl"], *_common("sdxl"), "--image-seeds", written, "--output-path",
        tmp_path / "sdxl")
    assert Image.open(_only(tmp_path / "sdxl")).size == (64, 64)
    error = _fails(models["flux"], *_common("flux"), "--image-seeds", written,
                   "--output-path", tmp_path / "flux")
    assert "4 latent channels" in error and "takes 16" in error and "interposer" in error
    # .pth is torch.save too
    _ok(models["sd"], *_common("sd"), "--image-format", "pth", "--output-path",
        tmp_path / "pth")
    assert torch.load(_only(tmp_path / "pth"), weights_only=True).shape == (4, 8, 8)


def test_latents_processors_at_each_place(models: dict[str, Path], tmp_path: Path) -> None:
    model, common = models["sd"], _common("sd")
    _ok(model, *common, "--image-format", "pt", "--denoising-end", "0.5", "--output-path",
        tmp_path / "plain")
    plain = _only(tmp_path / "plain")
    # -lpp: on the written latents
    _ok(model, *common, "--image-format", "pt", "--denoising-end", "0.5", "--output-path",
        tmp_path / "doubled", "--latents-post-processors", "scale;factor=2")
    doubled = torch.load(_only(tmp_path / "doubled"), weights_only=True)
    assert torch.allclose(doubled, 2 * torch.load(plain, weights_only=True))
    # -lp with '+': one chain per latents input of a latents: batch
    _ok(model, *common, "--image-seeds", f"latents: {plain}, {plain}", "--denoising-start",
        "0.5", "--latents-processors", "+", "scale;factor=0", "--output-path",
        tmp_path / "chains")
    first, second = sorted((tmp_path / "chains").glob("*.png"))
    _ok(model, *common, "--image-seeds", f"latents: {plain}, {plain}", "--denoising-start",
        "0.5", "--output-path", tmp_path / "resumed")
    same, _ = sorted((tmp_path / "resumed").glob("*.png"))
    assert np.array_equal(_pixels(first), _pixels(same))  # the empty chain changes nothing
    assert not np.array_equal(_pixels(first), _pixels(second))
    # -ilp: on a tensor image before the VAE decodes it
    _ok(model, *common, "--image-seeds", plain, "--output-path", tmp_path / "decoded")
    _ok(model, *common, "--image-seeds", plain, "--img2img-latents-processors",
        "noise;timestep=500;seed=3", "--output-path", tmp_path / "noised")
    assert not np.array_equal(_pixels(_only(tmp_path / "decoded")),
                              _pixels(_only(tmp_path / "noised")))


def test_animated_inputs_write_one_tensor_per_frame(models: dict[str, Path], tmp_path: Path,
                                                    media: Path) -> None:
    _ok(models["sd"], *_common("sd"), "--image-seeds", media / "kitten.gif", "--frame-end",
        "1", "--image-format", "pt", "--output-path", tmp_path)
    written = sorted(path.suffix for path in tmp_path.iterdir())
    assert written == [".pt", ".pt"]  # the frames; no animation file


@pytest.mark.parametrize(("arguments", "message"), [
    (["--image-seeds", "{latents}"], None),  # fine: decoded as img2img image
    (["--image-seeds", "latents: {latents}"], "need --denoising-start"),
    (["--denoising-start", "0.5"], "resumes denoising from latents; give latents:"),
    (["--image-seeds", "{image};mask={image};latents={latents}", "--denoising-start", "0.5"],
     "cannot resume inpainting from latents= inputs"),
    (["--image-seeds", "{image}", "--img2img-latents-processors", "scale"],
     "--img2img-latents-processors work on the latents of tensor files"),
    (["--image-seeds", "{image}", "--latents-processors", "scale"],
     "--latents-processors work on the latents of tensor files"),
    (["--image-seeds", "{image}, {latents}"], "partly tensor files"),
    (["--image-seeds", "{image};mask={latents}"], "is a tensor file; masks must be images"),
    (["--image-seeds", "latents: {broken}", "--denoising-start", "0.5"],
     "cannot be read as a tensor file"),
])
def test_mistakes(models: dict[str, Path], tmp_path: Path, media: Path,
                  arguments: list[str], message: str | None) -> None:
    latents = tmp_path / "latents.pt"
    torch.save(torch.zeros(4, 8, 8), latents)
    broken = tmp_path / "broken.pt"
    broken.write_text("not a tensor")
    values = [value.format(latents=latents, image=media / "horse1.jpg", broken=broken)
              for value in arguments]
    args = [models["sd"], *_common("sd"), "--output-path", tmp_path / "out", *values]
    if message is None:
        _ok(*args)
    else:
        assert message in _fails(*args)


def test_sdxl_refiner_takes_no_denoising_end(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                             tmp_path: Path) -> None:
    error = _fails(tiny_sdxl, *_common("sdxl"), "--sdxl-refiner", tiny_sdxl_refiner,
                   "--denoising-end", "0.5", "--output-path", tmp_path, "--dry-run")
    assert "--denoising-end cannot be used with --sdxl-refiner" in error


def test_the_sdxl_refiner_writes_latents(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                         tmp_path: Path) -> None:
    _ok(tiny_sdxl, *_common("sdxl"), "--sdxl-refiner", tiny_sdxl_refiner, "--image-format",
        "pt", "--output-path", tmp_path)
    assert torch.load(_only(tmp_path), weights_only=True).shape == (4, 8, 8)
