"""``--model-type s-cascade`` through the command line, on a tiny random-weight Stable
Cascade prior and decoder."""

from __future__ import annotations

import textwrap
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
def cascade(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny prior (no image encoder of its own), decoder, CLIP image encoder and two
    images of different content, built once."""
    from .tiny_ip_adapter import build_image_encoder
    from .tiny_s_cascade import build_decoder, build_prior

    root = tmp_path_factory.mktemp("s-cascade")
    images = root / "images"
    images.mkdir()
    for name, color in (("red.png", (200, 30, 30)), ("blue.png", (20, 40, 220))):
        picture = np.zeros((64, 64, 3), dtype=np.uint8)
        picture[8:40, 16:56] = color
        Image.fromarray(picture).save(images / name)
    return {"prior": build_prior(root / "prior"), "decoder": build_decoder(root / "decoder"),
            "encoder": build_image_encoder(root / "encoder", seed=3),
            "red": images / "red.png", "blue": images / "blue.png", "root": root}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def cascade_args(models: dict[str, Path], *args: str) -> list[str]:
    return ["--model-type", "s-cascade", "--s-cascade-decoder", str(models["decoder"]),
            "--seeds", "1", "--prompts", "a red circle", *args]


def run(models: dict[str, Path], out: Path, *args: str):
    return ok(models["prior"], out, *cascade_args(models, *args))


def only_image(folder: Path) -> Path:
    [image] = sorted(folder.glob("*.png"))
    return image


def test_s_cascade_conforms(cascade: dict[str, Path], tmp_path: Path) -> None:
    report = check_model_type(
        "s-cascade", cascade["prior"], tmp_path / "conformance", size=128,
        extra_args=["--s-cascade-decoder", str(cascade["decoder"]), "--image-encoder",
                    str(cascade["encoder"])],
        axes={"--second-model-inference-steps": ["2", "3"]})
    assert report.modes == ("txt2img", "img2img")
    assert all(report.images[mode] for mode in report.modes)


def test_decoder_defaults_and_second_model_options(cascade: dict[str, Path],
                                                   tmp_path: Path) -> None:
    plain = run(cascade, tmp_path / "plain", "--output-size", "128", "-v")
    # the decoder runs 10 steps without guidance unless told, on the primary prompt
    assert ("image_embeddings=Tensor, prompt=['a red circle'], num_inference_steps=10, "
            "guidance_scale=0.0") in plain.stderr
    assert "height=128, width=128, output_type='pt'" in plain.stderr  # the prior's call
    base = only_image(tmp_path / "plain")
    assert base.name == "s_1_g_5-0_i_2_step_1.png" and size_of(base) == (128, 128)

    tuned = run(cascade, tmp_path / "tuned", "--output-size", "128", "-ifs2", "3",
                "-gs2", "2", "--second-model-prompts", "a blue square; dark",
                "-sch2", "DDPMWuerstchenScheduler", "-v")
    assert ("prompt=['a blue square'], num_inference_steps=3, guidance_scale=2.0, "
            "generator=[1 x Generator], output_type='pil', negative_prompt=['dark']"
            ) in tuned.stderr
    image = only_image(tmp_path / "tuned")
    assert image.name == "DDPMWuerstchenScheduler_s_1_g_5-0_g2_2-0_i_2_i2_3_step_1.png"
    assert not np.array_equal(pixels(image), pixels(base))
    # each second-model option changes the picture alone too, and is an axis
    run(cascade, tmp_path / "prompt", "--output-size", "128", "--second-model-prompts",
        "a red circle", "a green dog")
    same, other = (pixels(tmp_path / "prompt" / name) for name in names(tmp_path / "prompt"))
    assert np.array_equal(same, pixels(base)) and not np.array_equal(other, pixels(base))


def test_sizes(cascade: dict[str, Path], tmp_path: Path) -> None:
    # 96 px is not a size the models make (their steps are 128/3 px): the decoder's picture
    # is resized to it; a non-square size keeps its sides
    result = run(cascade, tmp_path / "odd", "--output-size", "96x160", "-v")
    assert "resized to 96x160" in result.stderr
    assert size_of(only_image(tmp_path / "odd")) == (96, 160)


def test_image_prompts(cascade: dict[str, Path], tmp_path: Path) -> None:
    encoder = ["--image-encoder", str(cascade["encoder"])]
    run(cascade, tmp_path / "text", "--output-size", "64", *encoder)
    styled = run(cascade, tmp_path / "red", "--image-seeds", str(cascade["red"]), *encoder,
                 "--output-size", "64", "-v")
    assert "images=[1 x " in styled.stderr
    image = only_image(tmp_path / "red")
    # no strength: an image prompt, not a noised input; the output has --output-size
    assert image.name == "s_1_g_5-0_i_2_step_1.png" and size_of(image) == (64, 64)
    assert not np.array_equal(pixels(image), pixels(only_image(tmp_path / "text")))
    run(cascade, tmp_path / "blue", "--image-seeds", str(cascade["blue"]), *encoder,
        "--output-size", "64")
    assert not np.array_equal(pixels(image), pixels(only_image(tmp_path / "blue")))
    # images: gives the prior several image prompts at once, for one output; they keep
    # their sizes (never resized, and they may differ)
    small = tmp_path / "small.png"
    Image.open(cascade["blue"]).resize((40, 24)).save(small)
    both = run(cascade, tmp_path / "both", "--image-seeds",
               f"images: {cascade['red']}, {small}", *encoder, "--output-size", "64", "-v")
    assert "images=[2 x " in both.stderr
    assert size_of(only_image(tmp_path / "both")) == (64, 64)
    # the prior has no image encoder of its own
    result = render(cascade["prior"], tmp_path / "none",
                    *cascade_args(cascade, "--image-seeds", str(cascade["red"])))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "need an image encoder" in result.stderr and "--image-encoder" in result.stderr


def test_sub_models(cascade: dict[str, Path], tmp_path: Path) -> None:
    from .tiny_s_cascade import build_unet_folder
    from .tiny_submodels import build_text_encoder_folder

    run(cascade, tmp_path / "base", "--output-size", "128")
    base = pixels(only_image(tmp_path / "base"))
    prior_unet = build_unet_folder(tmp_path / "prior-unet", "prior", seed=7)
    decoder_unet = build_unet_folder(tmp_path / "decoder-unet", "decoder", seed=8)
    encoder = build_text_encoder_folder(cascade["prior"], tmp_path / "te", seed=9)
    for name, arguments in (("unet", ["--unet", str(prior_unet)]),
                            ("unet2", ["--second-model-unet", str(decoder_unet)]),
                            ("te", ["--text-encoders", f"CLIPTextModelWithProjection;"
                                    f"model={encoder}"]),
                            ("te2", ["--second-model-text-encoders",
                                     f"CLIPTextModelWithProjection;model={encoder}"])):
        run(cascade, tmp_path / name, "--output-size", "128", *arguments)
        assert not np.array_equal(pixels(only_image(tmp_path / name)), base), name
    # the whole model where the UNet's folder is expected
    result = render(cascade["prior"], tmp_path / "whole",
                    *cascade_args(cascade, "--unet", str(cascade["prior"])))
    assert result.exit_code == 1 and "subfolder=prior" in result.stderr
    run(cascade, tmp_path / "sub", "--output-size", "128", "--unet",
        f"{cascade['prior']};subfolder=prior")
    assert np.array_equal(pixels(only_image(tmp_path / "sub")), base)


def test_config_script_variables_and_written_config(cascade: dict[str, Path],
                                                    tmp_path: Path) -> None:
    script = tmp_path / "script.dgen"
    script.write_text(textwrap.dedent(f"""
        {cascade['prior']} --model-type s-cascade --s-cascade-decoder {cascade['decoder']} \\
            --output-size 128 --seeds 1 --inference-steps 1 -ifs2 2 3 \\
            --output-path {tmp_path / "out"} --output-configs
        \\print {{{{ last_s_cascade_decoder_uri }}}} {{{{ last_second_model_inference_steps }}}}
        """))
    result = run_cli("--file", str(script), env=ENV)
    assert result.exit_code == 0, result.stderr
    printed = [line for line in result.stdout.splitlines() if not line.startswith("wrote")]
    assert printed == [f"{cascade['decoder']} [2, 3]"]
    config = (tmp_path / "out" / "s_1_g_5-0_i_1_i2_3_step_2.dgen").read_text()
    assert f"--s-cascade-decoder {cascade['decoder']}" in config
    assert "--second-model-inference-steps 3" in config


def test_help(cascade: dict[str, Path], tmp_path: Path) -> None:
    common = [str(cascade["prior"]), *cascade_args(cascade)]
    result = run_cli(*common, "--scheduler", "help", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert '"DDPMWuerstchenScheduler"' in result.stdout
    result = run_cli(*common, "--second-model-schedulers", "helpargs", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert str(cascade["decoder"]) in result.stdout and "DDPMWuerstchenScheduler:" in (
        result.stdout)
    result = run_cli(*common, "--second-model-text-encoders", "help", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "CLIPTextModelWithProjection (text_encoder)" in result.stdout


def test_capabilities() -> None:
    spec = isolated_plugin_manager().registry(Category.MODEL_TYPE).get("s-cascade")
    assert spec.capabilities.modes == {Mode.TXT2IMG, Mode.IMG2IMG}
    assert not spec.capabilities.strength and spec.capabilities.default_size == (1024, 1024)


def test_dry_run_default_size(tmp_path: Path) -> None:
    result = run_cli("./no/such/prior", "--model-type", "s-cascade", "--s-cascade-decoder",
                     "./no/such/decoder", "--dry-run", "--output-path", str(tmp_path / "out"),
                     env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "1024x1024" in result.stdout + result.stderr


@pytest.mark.parametrize(("arguments", "message"), [
    (["--model-type", "s-cascade"], "--model-type s-cascade needs --s-cascade-decoder"),
    (["--model-type", "s-cascade", "--second-model-inference-steps", "5"],
     "--second-model-inference-steps needs --s-cascade-decoder"),
    (["--model-type", "sd", "--s-cascade-decoder", "x/y"],
     "--s-cascade-decoder does not apply to --model-type sd"),
    (["--model-type", "sdxl", "--second-model-guidance-scales", "0"],
     "--second-model-guidance-scales needs --sdxl-refiner"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "--image-seeds",
      "{red}", "--image-seed-strengths", "0.5"], "does not take a strength"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "--image-seeds",
      "{red};mask={red}"], "inpaint"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y;dtype=float8"], "float8"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "--sigmas", "1.0,0.5"],
     "--sigmas"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "--clip-skips", "1"],
     "--clip-skips does not apply to --model-type s-cascade"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "-sch2", "NoSuchScheduler"],
     "--second-model-schedulers: 'NoSuchScheduler' is not a diffusers scheduler"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y",
      "--second-model-second-prompts", "a cat"],
     "--second-model-second-prompts does not apply to --model-type s-cascade"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "--ip-adapters", "x/y"],
     "--ip-adapters does not apply to --model-type s-cascade"),
    (["--model-type", "s-cascade", "--s-cascade-decoder", "x/y", "--unet", "./no/such/unet"],
     "does not exist"),
])
def test_refused(cascade: dict[str, Path], tmp_path: Path, arguments: list[str],
                 message: str) -> None:
    arguments = [word.replace("{red}", str(cascade["red"])) for word in arguments]
    result = run_cli("./no/such/model", "--dry-run", "--output-path", str(tmp_path),
                     *arguments, env=ENV)
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
