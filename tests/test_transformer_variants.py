"""``--model-type sd3-pix2pix``, ``flux-fill`` and ``flux-kontext`` through the command line,
on tiny random-weight models (tests/tiny_transformer_variants.py)."""

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


@pytest.fixture(scope="session")
def variant_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny models by model type, and the plain ones the variants are refused with."""
    from .tiny_flux import build_flux
    from .tiny_sd3 import build_sd3
    from .tiny_transformer_variants import build_flux_fill, build_sd3_pix2pix

    root = tmp_path_factory.mktemp("variant-models")
    flux = build_flux(root / "flux")
    return {"sd3-pix2pix": build_sd3_pix2pix(root / "sd3-pix2pix"),
            "flux-fill": build_flux_fill(root / "flux-fill"),
            "flux-kontext": flux, "flux": flux, "sd3": build_sd3(root / "sd3")}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def call_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "pipeline call:" in line)


CONFORMANCE = {
    "sd3-pix2pix": ({Mode.IMG2IMG}, {"axes": {"--image-guidance-scales": ["1.5", "2"]}}),
    "flux-fill": ({Mode.INPAINT}, {"guidance": 30.0, "strength": 1.0}),
    "flux-kontext": ({Mode.TXT2IMG, Mode.IMG2IMG}, {"guidance": 2.5}),
}


@pytest.mark.parametrize("model_type", sorted(CONFORMANCE))
def test_conforms(model_type: str, variant_models: dict[str, Path], tmp_path: Path) -> None:
    """Every declared mode renders, names its files, replays its config bit for bit; a dry
    run loads nothing."""
    modes, options = CONFORMANCE[model_type]
    report = check_model_type(model_type, variant_models[model_type], tmp_path / "check",
                              **options)
    assert set(report.modes) == modes
    assert all(report.images[mode] for mode in report.modes)


def test_capabilities_and_listing() -> None:
    registry = isolated_plugin_manager().registry(Category.MODEL_TYPE)
    pix2pix, fill, kontext = (registry.get(name) for name in
                              ("sd3-pix2pix", "flux-fill", "flux-kontext"))
    assert pix2pix.capabilities.modes == {Mode.IMG2IMG} and not pix2pix.capabilities.strength
    assert fill.capabilities.modes == {Mode.INPAINT} and fill.capabilities.strength
    assert kontext.capabilities.modes == {Mode.TXT2IMG, Mode.IMG2IMG}
    assert not kontext.capabilities.strength
    for spec in (pix2pix, fill, kontext):
        assert {"vae", "text_encoder", "text_encoder_2", "lora"} <= spec.capabilities.slots
    result = run_cli("--model-type", "help", env=ENV)
    assert result.exit_code == 0, result.stderr
    for name in ("sd3", "sd3-pix2pix", "flux", "flux-fill", "flux-kontext"):
        assert f'"{name}" ' in result.stdout


# ------------------------------------------------------------------------ sd3-pix2pix

def test_sd3_pix2pix_edits_with_image_guidance(variant_models: dict[str, Path], tmp_path: Path,
                                               media: Path) -> None:
    model = variant_models["sd3-pix2pix"]
    result = ok(model, tmp_path / "a", "--model-type", "sd3-pix2pix", "--seeds", "1",
                "--prompts", "a red dog; blurry", "--third-prompts", "a blue square",
                "--image-seeds", f"{media / 'horse1.jpg'};64", "-igs", "1.5", "2",
                "--max-sequence-length", "32", "-v")
    call = call_line(result.stderr)
    assert "image_guidance_scale=1.5" in call and "negative_prompt=['blurry']" in call
    assert "prompt_3=['a blue square']" in call and "max_sequence_length=32" in call
    assert "strength" not in call
    assert names(tmp_path / "a") == ["s_1_g_5-0_igs_1-5_i_2_step_1.png",
                                     "s_1_g_5-0_igs_2-0_i_2_step_2.png"]
    first, second = (tmp_path / "a" / name for name in names(tmp_path / "a"))
    assert size_of(first) == size_of(second) == (64, 32)  # the input's size
    assert not np.array_equal(pixels(first), pixels(second))
    # without the option: sd3's default of 256 tokens; guidance 1 runs the conditioned
    # branch alone
    result = ok(model, tmp_path / "b", "--model-type", "sd3-pix2pix", "--seeds", "1",
                "--image-seeds", f"{media / 'horse1.jpg'};64", "--guidance-scales", "1", "-v")
    assert "max_sequence_length=256" in call_line(result.stderr)


def test_sd3_pix2pix_refuses_a_plain_sd3_model(variant_models: dict[str, Path], tmp_path: Path,
                                               media: Path) -> None:
    result = render(variant_models["sd3"], tmp_path, "--model-type", "sd3-pix2pix",
                    "--image-seeds", f"{media / 'horse1.jpg'};64")
    assert result.exit_code == 1
    assert ("is not an InstructPix2Pix SD3 model: its transformer takes 16 input channels, "
            "and --model-type sd3-pix2pix needs 32") in result.stderr
    assert "Traceback" not in result.stderr and names(tmp_path) == []


def test_sd3_pix2pix_refuses_an_input_size_it_cannot_make(variant_models: dict[str, Path],
                                                          tmp_path: Path, media: Path) -> None:
    result = render(variant_models["sd3-pix2pix"], tmp_path, "--model-type", "sd3-pix2pix",
                    "--image-seeds", f"{media / 'horse1.jpg'};resize=64x40;aspect=false")
    assert result.exit_code == 1
    assert ("--model-type sd3-pix2pix makes images whose sides are multiples of 16, and this "
            "one is 64x40") in result.stderr
    assert "Traceback" not in result.stderr and names(tmp_path) == []


# ---------------------------------------------------------------------------- flux-fill

def test_flux_fill_inpaints(variant_models: dict[str, Path], tmp_path: Path,
                            media: Path) -> None:
    seed = f"{media / 'horse1.jpg'};{media / 'horse1-mask.jpg'};64"
    result = ok(variant_models["flux-fill"], tmp_path, "--model-type", "flux-fill",
                "--seeds", "1", "--prompts", "a red dog", "--second-prompts", "a blue square",
                "--image-seeds", seed, "--image-seed-strengths", "1", "0.5",
                "--guidance-scales", "30", "-v")
    call = call_line(result.stderr)
    assert "mask_image=" in call and "strength=1.0" in call and "guidance_scale=30.0" in call
    assert "prompt_2=['a blue square']" in call and "max_sequence_length=512" in call
    assert names(tmp_path) == ["s_1_st_0-5_g_30-0_i_2_step_2.png",
                               "s_1_st_1-0_g_30-0_i_2_step_1.png"]
    assert all(size_of(tmp_path / name) == (64, 32) for name in names(tmp_path))


def test_flux_fill_refuses_a_plain_flux_model(variant_models: dict[str, Path], tmp_path: Path,
                                              media: Path) -> None:
    result = render(variant_models["flux"], tmp_path, "--model-type", "flux-fill",
                    "--image-seeds", f"{media / 'horse1.jpg'};{media / 'horse1-mask.jpg'};64")
    assert result.exit_code == 1
    assert ("is not a Flux Fill model: its transformer takes 64 input channels, and "
            "--model-type flux-fill needs 384") in result.stderr
    assert "Traceback" not in result.stderr and names(tmp_path) == []


# ------------------------------------------------------------------------- flux-kontext

def test_flux_kontext_sizes_and_context(variant_models: dict[str, Path], tmp_path: Path,
                                        media: Path) -> None:
    model = variant_models["flux-kontext"]
    # txt2img at the asked size (the pipeline alone would scale it to a megapixel)
    result = ok(model, tmp_path / "t", "--model-type", "flux-kontext", "--seeds", "1",
                "--output-size", "64x32", "-v")
    assert "max_area=2048" in call_line(result.stderr)
    [made] = names(tmp_path / "t")
    assert size_of(tmp_path / "t" / made) == (64, 32)
    # the input image is the context: the image made has its size, and depends on it
    for folder, photo in (("a", "horse1.jpg"), ("b", "dog-on-bench.png")):
        result = ok(model, tmp_path / folder, "--model-type", "flux-kontext", "--seeds", "1",
                    "--image-seeds", f"{media / photo}", "--output-size", "64x32",
                    "--no-aspect", "-v")
        call = call_line(result.stderr)
        assert "image=[1 x Image]" in call and "strength" not in call
    [a], [b] = names(tmp_path / "a"), names(tmp_path / "b")
    assert a == b == "s_1_g_5-0_i_2_step_1.png"
    assert size_of(tmp_path / "a" / a) == (64, 32)
    assert not np.array_equal(pixels(tmp_path / "a" / a), pixels(tmp_path / "b" / b))
    assert not np.array_equal(pixels(tmp_path / "a" / a), pixels(tmp_path / "t" / made))


# ------------------------------------------------------- refused before anything loads

HORSE = "{horse}"
MASK = "{mask}"


@pytest.mark.parametrize(("model_type", "arguments", "message"), [
    ("sd3-pix2pix", [], "--model-type sd3-pix2pix does not do txt2img"),
    ("sd3-pix2pix", ["--image-seeds", f"{HORSE};{MASK}"],
     "--model-type sd3-pix2pix does not take an inpaint mask"),
    ("sd3-pix2pix", ["--image-seeds", HORSE, "--image-seed-strengths", "0.5"],
     "--image-seed-strengths does not apply to --model-type sd3-pix2pix"),
    ("sd3-pix2pix", ["--image-seeds", HORSE, "-igs", "0.5"],
     "--image-guidance-scales: '0.5' must be at least 1"),
    ("sd3-pix2pix", ["--image-seeds", HORSE, "--output-size", "64x40"],
     "--output-size 64x40: --model-type sd3-pix2pix makes images whose sides are multiples "
     "of 16"),
    ("sd3", ["--image-guidance-scales", "2"],
     "--image-guidance-scales does not apply to --model-type sd3; it applies to pix2pix, "
     "sd3-pix2pix, sdxl-pix2pix"),
    ("flux-fill", [], "--model-type flux-fill does not do txt2img"),
    ("flux-fill", ["--image-seeds", HORSE],
     "asks for img2img, which --model-type flux-fill does not do (it does inpaint)"),
    ("flux-fill", ["--image-seeds", f"{HORSE};{MASK}", "--prompts", "a; b"],
     "--model-type flux-fill takes no negative prompt"),
    ("flux-fill", ["--image-guidance-scales", "2"],
     "--image-guidance-scales does not apply to --model-type flux-fill"),
    ("flux-kontext", ["--image-seeds", HORSE, "--image-seed-strengths", "0.5"],
     "--image-seed-strengths does not apply to --model-type flux-kontext"),
    ("flux-kontext", ["--image-seeds", f"{HORSE};{MASK}"],
     "--model-type flux-kontext does not take an inpaint mask"),
    ("flux-kontext", ["--second-prompts", "a; b"],
     "--model-type flux-kontext takes no negative prompt"),
    ("flux-kontext", ["--third-prompts", "a"],
     "--third-prompts does not apply to --model-type flux-kontext; it applies to sd3, "
     "sd3-pix2pix"),
    ("flux-kontext", ["--output-size", "72"],
     "--output-size 72x72: --model-type flux-kontext makes images whose sides are multiples "
     "of 16"),
    ("flux-kontext", ["--max-sequence-length", "600"],
     "--max-sequence-length: '600' must be from 1 to 512"),
])
def test_what_is_refused(tmp_path: Path, media: Path, model_type: str, arguments: list[str],
                         message: str) -> None:
    arguments = [word.format(horse=media / "horse1.jpg", mask=media / "horse1-mask.jpg")
                 for word in arguments]
    result = run_cli("./no/such/model", "--model-type", model_type, "--dry-run",
                     "--output-path", str(tmp_path / "out"), *arguments, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
