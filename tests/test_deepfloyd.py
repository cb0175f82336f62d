"""``--model-type if``, ``ifs`` and ``ifs-img2img`` through the command line, on tiny
random-weight DeepFloyd IF stages (stage I: 16 px native, stage II: 4x)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Job
from dgenerate.plugin_api.testing import check_model_type, run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render


def _kernel_passes_floyd() -> bool:
    """Whether the kernel hands floyd= images to model types yet (it refused them before)."""
    import inspect

    from dgenerate.kernel.render import inputs

    return "floyd_image" in Job.__dataclass_fields__ and "DeepFloyd IF stage images" not in \
        inspect.getsource(inputs)


FLOYD = _kernel_passes_floyd()
needs_floyd = pytest.mark.skipif(not FLOYD, reason="the kernel does not pass floyd= yet")


@pytest.fixture(scope="session")
def stage_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_deepfloyd import build_if_stage_one

    return build_if_stage_one(tmp_path_factory.mktemp("models") / "tiny-if-I")


@pytest.fixture(scope="session")
def stage_two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_deepfloyd import build_if_stage_two

    return build_if_stage_two(tmp_path_factory.mktemp("models") / "tiny-if-II")


@pytest.fixture(scope="session")
def stage_one_image(stage_one: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stage I output (16x16), as a user chains it: the file dgenerate wrote."""
    out = tmp_path_factory.mktemp("stage1")
    ok(stage_one, out, "--model-type", "if", "--seeds", "3", "--prompts", "a red circle",
       "--output-size", "16")
    [image] = sorted(out.glob("*.png"))
    return image


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def square(media: Path, side: int, name: str = "horse1.jpg") -> str:
    return f"{media / name};resize={side}x{side};aspect=false"


def images(folder: Path) -> list[str]:
    return [name for name in names(folder) if name.endswith(".png")]


# ------------------------------------------------------------------ conformance


def test_stage_one_conforms(stage_one: Path, tmp_path: Path) -> None:
    # txt2img at the declared 64x64 default; img2img and inpaint of a 16 px input keep its
    # size (the pipeline brings inputs to the UNet's 16 px itself)
    report = check_model_type("if", stage_one, tmp_path / "conformance", size=None,
                              input_size=16)
    assert report.modes == ("txt2img", "img2img", "inpaint")
    assert all(report.images[mode] for mode in report.modes)


def test_stage_two_conforms(stage_two: Path, tmp_path: Path) -> None:
    # inpainting needs floyd=, which the suite does not give: the upscale only
    report = check_model_type("ifs", stage_two, tmp_path / "conformance", modes=["img2img"],
                              input_size=16, scale=4,
                              axes={"--upscaler-noise-levels": ["100", "250"]})
    assert report.modes == ("img2img",)
    assert len(report.images["img2img"]) == 2


# ---------------------------------------------------------------------- stage I


def test_stage_one_default_size_and_output_size(stage_one: Path, tmp_path: Path) -> None:
    ok(stage_one, tmp_path / "default", "--model-type", "if", "--seeds", "1")
    assert images(tmp_path / "default") == ["s_1_g_5-0_i_2_step_1.png"]
    assert size_of(tmp_path / "default" / "s_1_g_5-0_i_2_step_1.png") == (64, 64)
    ok(stage_one, tmp_path / "sized", "--model-type", "if", "--seeds", "1",
       "--output-size", "32x24")
    assert size_of(tmp_path / "sized" / "s_1_g_5-0_i_2_step_1.png") == (32, 24)


def test_stage_one_image_modes_give_the_native_size(stage_one: Path, tmp_path: Path,
                                                     media: Path) -> None:
    # a 64x48 input comes out with its short side at the UNet's 16 px, aspect kept
    ok(stage_one, tmp_path / "img2img", "--model-type", "if", "--seeds", "1",
       "--image-seeds", str(media / "horse1.jpg"), "--output-size", "64x48", "--no-aspect",
       "--image-seed-strengths", "0.5", "1.0")
    assert images(tmp_path / "img2img") == ["s_1_st_0-5_g_5-0_i_2_step_1.png",
                                            "s_1_st_1-0_g_5-0_i_2_step_2.png"]
    first, second = (tmp_path / "img2img" / name for name in images(tmp_path / "img2img"))
    assert size_of(first) == (24, 16)
    assert not np.array_equal(pixels(first), pixels(second))
    result = ok(stage_one, tmp_path / "inpaint", "--model-type", "if", "--seeds", "1",
                "--image-seeds", f"{media / 'horse1.jpg'};mask={media / 'horse1-mask.jpg'}",
                "--output-size", "32", "-v")
    assert "mask_image=[1 x Image]" in result.stderr and "clean_caption=False" in result.stderr
    [inpainted] = images(tmp_path / "inpaint")
    assert size_of(tmp_path / "inpaint" / inpainted)[1] == 16


def test_stage_one_batches_and_negative_prompts(stage_one: Path, tmp_path: Path) -> None:
    result = ok(stage_one, tmp_path, "--model-type", "if", "--seeds", "5", "--batch-size", "2",
                "--output-size", "16", "--prompts", "a red circle; a blue square", "-v")
    assert "negative_prompt=['a blue square', 'a blue square']" in result.stderr
    first, second = (tmp_path / name for name in images(tmp_path))
    assert not np.array_equal(pixels(first), pixels(second))


def test_stage_one_refuses_stage_two_options(stage_one: Path, tmp_path: Path) -> None:
    result = render(stage_one, tmp_path, "--model-type", "if", "--upscaler-noise-levels", "10")
    assert result.exit_code == 1
    assert "--upscaler-noise-levels does not apply to --model-type if" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_config_reproduces_stage_one(stage_one: Path, tmp_path: Path) -> None:
    ok(stage_one, tmp_path / "first", "--model-type", "if", "--seeds", "4", "--prompts",
       "a cat", "--output-size", "16", "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    [image] = images(tmp_path / "first")
    assert np.array_equal(pixels(tmp_path / "first" / image), pixels(tmp_path / "again" / image))


def test_single_files_are_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "if.safetensors"
    checkpoint.write_bytes(b"\0" * 16)
    result = render(checkpoint, tmp_path / "out", "--model-type", "if")
    assert result.exit_code == 1
    assert "not the single file" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------- stage II


def test_ifs_upscales_the_image_seed_four_times(stage_two: Path, tmp_path: Path,
                                                media: Path) -> None:
    result = ok(stage_two, tmp_path, "--model-type", "ifs", "--seeds", "1",
                "--image-seeds", square(media, 16), "-v")
    assert "noise_level=250" in result.stderr and "strength" not in result.stderr
    # the default noise level shows in the name, as a declared default would
    assert images(tmp_path) == ["s_1_st_0-8_unl_250_g_5-0_i_2_step_1.png"]
    assert size_of(tmp_path / "s_1_st_0-8_unl_250_g_5-0_i_2_step_1.png") == (64, 64)


def test_ifs_noise_levels_are_an_axis(stage_two: Path, tmp_path: Path, media: Path) -> None:
    ok(stage_two, tmp_path, "--model-type", "ifs", "--seeds", "1",
       "--image-seeds", str(media / "horse1.jpg"), "--output-size", "24x16", "--no-aspect",
       "-uns", "0", "500")
    assert images(tmp_path) == ["s_1_st_0-8_unl_0_g_5-0_i_2_step_1.png",
                                "s_1_st_0-8_unl_500_g_5-0_i_2_step_2.png"]
    first, second = (tmp_path / name for name in images(tmp_path))
    assert size_of(first) == (96, 64)
    assert not np.array_equal(pixels(first), pixels(second))


def test_ifs_noise_level_above_the_models_limit(stage_two: Path, tmp_path: Path,
                                                media: Path) -> None:
    result = render(stage_two, tmp_path, "--model-type", "ifs", "--image-seeds",
                    square(media, 16), "--upscaler-noise-levels", "1000")
    assert result.exit_code == 1
    assert "--upscaler-noise-levels 1000" in result.stderr and "up to 999" in result.stderr


@pytest.mark.parametrize(("model_type", "seed", "message"), [
    ("ifs", "{horse};mask={mask}", "needs the stage I image for inpainting"),
    ("ifs-img2img", "{horse}", "needs the stage I image for img2img"),
])
def test_stage_two_without_floyd(stage_two: Path, tmp_path: Path, media: Path,
                                 model_type: str, seed: str, message: str) -> None:
    seed = seed.format(horse=media / "horse1.jpg", mask=media / "horse1-mask.jpg")
    result = render(stage_two, tmp_path, "--model-type", model_type, "--image-seeds", seed,
                    "--output-size", "32")
    assert result.exit_code == 1
    assert message in result.stderr and "floyd=" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("model_type", ["ifs", "ifs-img2img"])
def test_stage_two_does_not_do_txt2img(stage_two: Path, tmp_path: Path,
                                       model_type: str) -> None:
    result = render(stage_two, tmp_path, "--model-type", model_type)
    assert result.exit_code == 1
    assert f"--model-type {model_type} does not do txt2img" in result.stderr


def test_ifs_output_config_reproduces_the_image(stage_two: Path, tmp_path: Path,
                                                media: Path) -> None:
    ok(stage_two, tmp_path / "first", "--model-type", "ifs", "--seeds", "4",
       "--prompts", "a cat", "--image-seeds", square(media, 16), "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert "--upscaler-noise-levels 250" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    [image] = images(tmp_path / "first")
    assert np.array_equal(pixels(tmp_path / "first" / image), pixels(tmp_path / "again" / image))


def test_upscaler_x4_keeps_its_own_default(tiny_upscaler_x4: Path, tmp_path: Path,
                                           media: Path) -> None:
    result = ok(tiny_upscaler_x4, tmp_path, "--model-type", "upscaler-x4", "--seeds", "1",
                "--image-seeds", square(media, 16), "-v")
    assert "noise_level=20" in result.stderr
    assert images(tmp_path) == ["s_1_unl_20_g_5-0_i_2_step_1.png"]


# --------------------------------------------------------------- stage chaining


@needs_floyd
def test_stage_one_output_upscaled_by_ifs(stage_one_image: Path, stage_two: Path,
                                          tmp_path: Path) -> None:
    # the image seed of ifs is the stage I image itself
    ok(stage_two, tmp_path, "--model-type", "ifs", "--seeds", "1",
       "--image-seeds", str(stage_one_image))
    [image] = images(tmp_path)
    assert size_of(tmp_path / image) == (64, 64)


@needs_floyd
def test_ifs_refuses_floyd_without_a_mask(stage_one_image: Path, stage_two: Path,
                                          tmp_path: Path, media: Path) -> None:
    result = render(stage_two, tmp_path, "--model-type", "ifs", "--image-seeds",
                    f"{media / 'horse1.jpg'};floyd={stage_one_image}", "--output-size", "32")
    assert result.exit_code == 1
    assert "ifs-img2img" in result.stderr and "Traceback" not in result.stderr


@needs_floyd
def test_ifs_img2img_follows_the_image_seed(stage_one_image: Path, stage_two: Path,
                                            tmp_path: Path, media: Path) -> None:
    result = ok(stage_two, tmp_path, "--model-type", "ifs-img2img", "--seeds", "1",
                "--image-seeds", f"{media / 'horse1.jpg'};floyd={stage_one_image}",
                "--output-size", "96x64", "--no-aspect", "-v", "--output-configs")
    assert "original_image=[1 x Image]" in result.stderr and "noise_level=250" in result.stderr
    [image] = images(tmp_path)
    assert image == "s_1_st_0-8_unl_250_g_5-0_i_2_step_1.png"
    # the image seed sets the size: its short side at stage II's native 64 px
    assert size_of(tmp_path / image) == (96, 64)
    [config] = sorted(tmp_path.glob("*.dgen"))
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / image), pixels(tmp_path / "again" / image))


@needs_floyd
@pytest.mark.parametrize("model_type", ["ifs", "ifs-img2img"])
def test_stage_two_inpaints_with_noise_level_zero(stage_one_image: Path, stage_two: Path,
                                                  tmp_path: Path, media: Path,
                                                  model_type: str) -> None:
    seed = f"{media / 'horse1.jpg'};mask={media / 'horse1-mask.jpg'};floyd={stage_one_image}"
    result = ok(stage_two, tmp_path, "--model-type", model_type, "--seeds", "1",
                "--image-seeds", seed, "--output-size", "64", "-v")
    assert "noise_level=0" in result.stderr and "mask_image=[1 x Image]" in result.stderr
    [image] = images(tmp_path)
    assert image == "s_1_st_0-8_unl_0_g_5-0_i_2_step_1.png"
    assert size_of(tmp_path / image)[1] == 64


@needs_floyd
def test_floyd_is_refused_by_stage_one(stage_one_image: Path, stage_one: Path,
                                       tmp_path: Path, media: Path) -> None:
    result = render(stage_one, tmp_path, "--model-type", "if", "--image-seeds",
                    f"{media / 'horse1.jpg'};floyd={stage_one_image}")
    assert result.exit_code == 1
    assert "does not take a DeepFloyd stage image" in result.stderr



@needs_floyd
def test_floyd_image_reaches_the_pipeline_as_written(stage_one_image: Path, stage_two: Path,
                                                     tmp_path: Path, media: Path) -> None:
    # the same call made directly with diffusers gives the same pixels: the 16 px stage I
    # image is the pipeline's image (neither resized nor processed), the seed its original
    import torch
    from diffusers import IFImg2ImgSuperResolutionPipeline

    seed = tmp_path / "seed.png"
    with Image.open(media / "horse1.jpg") as photo:
        photo.convert("RGB").resize((96, 64)).save(seed)
    ok(stage_two, tmp_path / "out", "--model-type", "ifs-img2img", "--seeds", "2",
       "--prompts", "a red circle", "--image-seeds", f"{seed};floyd={stage_one_image}")
    [image] = images(tmp_path / "out")
    pipeline = IFImg2ImgSuperResolutionPipeline.from_pretrained(
        stage_two, safety_checker=None, feature_extractor=None, watermarker=None,
        requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    with Image.open(stage_one_image) as low, Image.open(seed) as original:
        expected = pipeline(
            image=[low.convert("RGB")], original_image=[original.convert("RGB")],
            prompt=["a red circle"], num_inference_steps=2, guidance_scale=5.0, strength=0.8,
            noise_level=250, generator=[torch.Generator("cpu").manual_seed(2)],
            clean_caption=False).images[0]
    assert np.array_equal(pixels(tmp_path / "out" / image),
                          np.asarray(expected.convert("RGB")).astype(int))


def test_stage_one_from_the_hub_cache(stage_one: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a repository id resolves through the Hugging Face cache, offline, like the folder
    from huggingface_hub import constants

    from .source_fixtures import hub_cache_entry

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "DeepFloyd/IF-I-XL-v1.0", {"main": stage_one})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    arguments = ("--model-type", "if", "--seeds", "6", "--output-size", "16")
    ok("DeepFloyd/IF-I-XL-v1.0", tmp_path / "hub", *arguments, "--offline-mode")
    ok(stage_one, tmp_path / "folder", *arguments)
    [image] = images(tmp_path / "hub")
    assert np.array_equal(pixels(tmp_path / "hub" / image), pixels(tmp_path / "folder" / image))


def test_sub_models_and_schedulers(stage_one: Path, tmp_path: Path) -> None:
    # the model's own UNet and T5 given as sub-models draw the same picture
    arguments = ("--model-type", "if", "--seeds", "1", "--output-size", "16")
    ok(stage_one, tmp_path / "plain", *arguments)
    ok(stage_one, tmp_path / "parts", *arguments, "--unet", f"{stage_one};subfolder=unet",
       "--text-encoders", f"T5EncoderModel;model={stage_one};subfolder=text_encoder")
    [image] = images(tmp_path / "plain")
    assert np.array_equal(pixels(tmp_path / "plain" / image), pixels(tmp_path / "parts" / image))
    ok(stage_one, tmp_path / "ddim", *arguments, "--schedulers", "DDIMScheduler")
    assert images(tmp_path / "ddim") == ["DDIMScheduler_s_1_g_5-0_i_2_step_1.png"]
    refused = render(stage_one, tmp_path / "sigmas", *arguments, "--sigmas", "1.0,0.5")
    assert refused.exit_code == 1 and "--sigmas does not apply" in refused.stderr


@needs_floyd
def test_animations_chain_frame_by_frame(stage_one: Path, stage_two: Path, tmp_path: Path,
                                         media: Path) -> None:
    # stage I varies two frames of a GIF; stage II follows each frame with its stage I frame
    frames = f"{media / 'kitten.gif'};frame-start=0;frame-end=1"
    common = ("--seeds", "1", "--output-size", "64", "--animation-format", "gif")
    ok(stage_one, tmp_path / "one", "--model-type", "if", "--image-seeds", frames, *common)
    [animation] = sorted((tmp_path / "one").glob("ANIM_*.gif"))
    ok(stage_two, tmp_path / "two", "--model-type", "ifs-img2img", "--image-seeds",
       f"{media / 'kitten.gif'};floyd={animation};frame-start=0;frame-end=1", *common)
    written = names(tmp_path / "two")
    assert written == ["ANIM_s_1_st_0-8_unl_250_g_5-0_i_2_step_1.gif",
                       "s_1_st_0-8_unl_250_g_5-0_i_2_frame_1_step_1.png",
                       "s_1_st_0-8_unl_250_g_5-0_i_2_frame_2_step_1.png"]
    first, second = (tmp_path / "two" / name for name in written[1:])
    assert size_of(first)[1] == 64
    assert not np.array_equal(pixels(first), pixels(second))
