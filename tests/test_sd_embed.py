"""The sd-embed prompt weighter: the Web UI syntax parser, chunked weighted embeddings
against the pipelines' own, and rendering through the command line on tiny sd and sdxl
models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugins_builtin.prompt_weighters.sd_embed.parser import parse
from dgenerate.plugins_builtin.prompt_weighters.sd_embed.weighter import SdEmbed

from .support import BUILTIN_ONLY as ENV
from .support import render_ok as ok
from .support import render_quick as render

NAME = "s_1_g_5-0_i_2_step_1.png"
R, S = 1.1, 1 / 1.1

# ------------------------------------------------------------------ the parser


@pytest.mark.parametrize(("text", "segments"), [
    ("a red circle", [("a red circle", 1.0)]),
    ("", []),
    ("a (red) circle", [("a ", 1.0), ("red", R), (" circle", 1.0)]),
    ("((red))", [("red", R * R)]),
    ("(((red)))", [("red", R * R * R)]),
    ("[red]", [("red", S)]),
    ("[[red]]", [("red", S * S)]),
    ("([red])", [("red", R * S)]),
    ("a (red:1.5) circle", [("a ", 1.0), ("red", 1.5), (" circle", 1.0)]),
    ("(red: 0.5 )", [("red", 0.5)]),
    ("(red:.5)", [("red", 0.5)]),
    ("(red:2)", [("red", 2.0)]),
    ("((red:1.2))", [("red", 1.2 * R)]),
    ("(a (b):2)", [("a ", 2.0), ("b", 2.0 * R)]),
    ("(a [b] c:2)", [("a ", 2.0), ("b", 2.0 * S), (" c", 2.0)]),
    ("(red:1.0) circle", [("red circle", 1.0)]),  # equal weights merge
    ("(time: 12:30)", [("time: 12", 30.0)]),  # the last colon holds the weight
    ("(a:b)", [("a:b", R)]),  # not a number: the colon is text
    ("[red:1.5]", [("red:1.5", S)]),  # explicit weights in round brackets only
    (r"\(red\)", [("(red)", 1.0)]),
    (r"\[red\]", [("[red]", 1.0)]),
    (r"(a \) b)", [("a ) b", R)]),
    (r"a \\ b", [("a \\ b", 1.0)]),
    (r"\((red)\)", [("(", 1.0), ("red", R), (")", 1.0)]),
    # unbalanced brackets are text
    ("(red", [("(red", 1.0)]),
    ("red)", [("red)", 1.0)]),
    ("(red]", [("(red]", 1.0)]),
    ("((red)", [("(", 1.0), ("red", R)]),
    ("(red))", [("red", R), (")", 1.0)]),
    ("(a:1.2", [("(a:1.2", 1.0)]),
    ("()", []),
    ("red BREAK blue", [("red BREAK blue", 1.0)]),  # BREAK has no meaning here
])
def test_parse(text: str, segments: list[tuple[str, float]]) -> None:
    parsed = parse(text)
    assert [segment for segment, _ in parsed] == [segment for segment, _ in segments]
    assert [weight for _, weight in parsed] == pytest.approx([weight for _, weight in segments])


def test_parse_deep_unbalanced_nesting_is_fast() -> None:
    assert parse("(" * 5000 + "red") == [("(" * 5000 + "red", 1.0)]


# ------------------------------------------------------------------ embeddings


@pytest.fixture(scope="module")
def sd_pipeline(tiny_sd: Path):
    from diffusers import StableDiffusionPipeline

    from dgenerate.plugin_api.diffusion.compat import patch_text_encoders

    pipeline = StableDiffusionPipeline.from_pretrained(str(tiny_sd))
    patch_text_encoders(pipeline)  # diffusers' own clip_skip path needs it
    return pipeline


@pytest.fixture(scope="module")
def sdxl_pipeline(tiny_sdxl: Path):
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline.from_pretrained(str(tiny_sdxl))


def weigh(pipeline, model_type: str, **arguments) -> dict:
    listed = {key: [value] if isinstance(value, str) else value
              for key, value in arguments.items()}
    return SdEmbed(model_type=model_type).translate(pipeline, {"guidance_scale": 5.0, **listed})


SDXL_KEYS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
             "negative_pooled_prompt_embeds")


def test_sd_unweighted_prompt_equals_the_pipeline(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="a red circle", negative_prompt="blurry")
    assert set(result) == {"guidance_scale", "prompt_embeds", "negative_prompt_embeds"}
    expected, negative = sd_pipeline.encode_prompt("a red circle", "cpu", 1, True, "blurry")
    assert torch.equal(result["prompt_embeds"], expected)
    assert torch.equal(result["negative_prompt_embeds"], negative)


def test_sd_weights_of_one_change_nothing(sd_pipeline) -> None:
    plain = weigh(sd_pipeline, "sd", prompt="a red circle")
    ones = weigh(sd_pipeline, "sd", prompt="(a:1.0) (red:1) circle")
    assert torch.equal(plain["prompt_embeds"], ones["prompt_embeds"])


def test_sd_without_negative_prompt_encodes_the_empty_one(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="a red circle")
    _, negative = sd_pipeline.encode_prompt("a red circle", "cpu", 1, True, None)
    assert torch.equal(result["negative_prompt_embeds"], negative)


@pytest.mark.parametrize(("prompt", "factor"), [
    ("a (red:1.5) circle", 1.5), ("a ((red)) circle", 1.21), ("a [red] circle", 1 / 1.1)])
def test_sd_weight_scales_only_its_tokens(sd_pipeline, prompt: str, factor: float) -> None:
    plain = weigh(sd_pipeline, "sd", prompt="a red circle")["prompt_embeds"]
    weighted = weigh(sd_pipeline, "sd", prompt=prompt)["prompt_embeds"]
    red = 2  # <start> a red circle <end>
    assert torch.allclose(weighted[0, red], plain[0, red] * factor)
    others = [index for index in range(plain.shape[1]) if index != red]
    assert torch.equal(weighted[0, others], plain[0, others])


def test_sd_long_prompt_is_not_truncated(sd_pipeline) -> None:
    prompt = " ".join(["red circle"] * 100)  # 200 tokens: three windows
    result = weigh(sd_pipeline, "sd", prompt=prompt, negative_prompt="blurry")
    assert result["prompt_embeds"].shape[1] == 3 * 77
    assert result["negative_prompt_embeds"].shape == result["prompt_embeds"].shape
    # the negative prompt is padded with windows of the empty prompt
    empty, _ = sd_pipeline.encode_prompt("", "cpu", 1, False)
    assert torch.equal(result["negative_prompt_embeds"][:, 77:154], empty)


def test_sd_windows_are_encoded_separately(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="red " * 75 + "blue circle")
    first, _ = sd_pipeline.encode_prompt("red " * 75, "cpu", 1, False)
    second, _ = sd_pipeline.encode_prompt("blue circle", "cpu", 1, False)
    assert torch.equal(result["prompt_embeds"], torch.cat([first, second], dim=1))


def test_sd_negative_longer_than_the_prompt(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="red", negative_prompt="blue " * 80)
    assert result["prompt_embeds"].shape[1] == result["negative_prompt_embeds"].shape[1] == 154


def test_sd_clip_skip(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="a red circle", clip_skip=1)
    assert "clip_skip" not in result
    expected, _ = sd_pipeline.encode_prompt("a red circle", "cpu", 1, False, clip_skip=1)
    assert torch.equal(result["prompt_embeds"], expected)


def test_sd_batch_of_prompts(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt=["a red circle"] * 2)
    assert result["prompt_embeds"].shape[0] == result["negative_prompt_embeds"].shape[0] == 2


def test_sdxl_unweighted_prompts_equal_the_pipeline(sdxl_pipeline) -> None:
    result = weigh(sdxl_pipeline, "sdxl", prompt="a red circle", prompt_2="a blue square",
                   negative_prompt="blurry", negative_prompt_2="dark")
    assert "prompt_2" not in result and "negative_prompt_2" not in result
    expected = sdxl_pipeline.encode_prompt("a red circle", "a blue square", "cpu", 1, True,
                                           "blurry", "dark")
    for key, tensor in zip(SDXL_KEYS, expected, strict=True):
        assert torch.equal(result[key], tensor), key


def test_sdxl_without_negative_prompt_gives_zeros(sdxl_pipeline) -> None:
    result = weigh(sdxl_pipeline, "sdxl", prompt="a red circle")
    expected = sdxl_pipeline.encode_prompt("a red circle", None, "cpu", 1, True)
    for key, tensor in zip(SDXL_KEYS, expected, strict=True):
        assert torch.equal(result[key], tensor), key
    assert not result["negative_prompt_embeds"].any()


def test_sdxl_weight_scales_both_encoders(sdxl_pipeline) -> None:
    plain = weigh(sdxl_pipeline, "sdxl", prompt="a red circle", negative_prompt="blurry")
    weighted = weigh(sdxl_pipeline, "sdxl", prompt="a (red:0.5) circle",
                     negative_prompt="blurry")
    assert torch.allclose(weighted["prompt_embeds"][0, 2], plain["prompt_embeds"][0, 2] * 0.5)
    weighted["prompt_embeds"][0, 2] = plain["prompt_embeds"][0, 2]
    for key in SDXL_KEYS:  # the pooled embeddings are not weighted
        assert torch.equal(weighted[key], plain[key]), key


def test_sdxl_long_prompts_of_both_encoders(sdxl_pipeline) -> None:
    result = weigh(sdxl_pipeline, "sdxl", prompt="red circle " * 100, prompt_2="blue",
                   negative_prompt="blurry")
    for key in ("prompt_embeds", "negative_prompt_embeds"):
        assert result[key].shape[1] == 3 * 77, key
    _, _, pooled, _ = sdxl_pipeline.encode_prompt("red circle " * 100, "blue", "cpu", 1, True,
                                                  "blurry")
    assert torch.equal(result["pooled_prompt_embeds"], pooled)


def test_other_model_types_are_refused() -> None:
    with pytest.raises(DgenerateError, match="--model-type kolors.*sdxl"):
        SdEmbed(model_type="kolors")


# ------------------------------------------------------------------ the command line


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_renders_and_written_configs_replay(family: str, request: pytest.FixtureRequest,
                                            tmp_path: Path) -> None:
    model = request.getfixturevalue(f"tiny_{family}")
    prompt = "a ((red)) circle " + "on the left " * 30 + "; [blurry]"
    common = ("--model-type", family, "--seeds", "1", "--output-size", "64",
              "--prompts", prompt)
    ok(model, tmp_path / "first", *common, "--prompt-weighter", "sd-embed", "--output-configs")
    first = pixels(tmp_path / "first" / NAME)
    config = (tmp_path / "first" / NAME).with_suffix(".dgen")
    assert "--prompt-weighter sd-embed" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(first, pixels(tmp_path / "again" / NAME))


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_unweighted_prompt_renders_as_without_a_weighter(
        family: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    model = request.getfixturevalue(f"tiny_{family}")
    common = ("--model-type", family, "--seeds", "1", "--prompts", "a red circle; blurry")
    ok(model, tmp_path / "weighted", *common, "--prompt-weighter", "sd-embed")
    ok(model, tmp_path / "plain", *common)
    assert np.array_equal(pixels(tmp_path / "weighted" / NAME),
                          pixels(tmp_path / "plain" / NAME))


def test_a_weight_changes_the_render(tiny_sd: Path, tmp_path: Path) -> None:
    common = ("--seeds", "1", "--prompt-weighter", "sd-embed")
    ok(tiny_sd, tmp_path / "plain", *common, "--prompts", "a red circle")
    ok(tiny_sd, tmp_path / "weighted", *common, "--prompts", "a (red:1.8) circle")
    assert not np.array_equal(pixels(tmp_path / "weighted" / NAME),
                              pixels(tmp_path / "plain" / NAME))


def test_another_model_type_is_refused_on_the_command_line(tiny_sd: Path,
                                                          tmp_path: Path) -> None:
    result = render(tiny_sd, tmp_path, "--model-type", "kolors", "--prompt-weighter",
                    "sd-embed")
    assert result.exit_code == 1
    assert "cannot weigh prompts for --model-type kolors" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_is_listed_without_heavy_imports() -> None:
    result = run_cli("--prompt-weighter-help", env=ENV)
    assert result.exit_code == 0 and "sd-embed" in result.stdout
    result = run_cli("--prompt-weighter-help", "sd-embed", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "(word:1.5)" in result.stdout and "sdxl" in result.stdout
    assert_import_light(["--prompt-weighter-help", "sd-embed"], forbidden=HEAVY_MODULES,
                        env={"DGENERATE_DISABLE_PLUGINS": ""})


@pytest.mark.parametrize(("family", "size"), [
    ("pix2pix", 64), ("sdxl-pix2pix", 64), ("upscaler-x4", 16)])
def test_image_families(family: str, size: int, request: pytest.FixtureRequest,
                        media: Path, tmp_path: Path) -> None:
    """Short unweighted prompts render as without the weighter; long weighted ones render."""
    model = request.getfixturevalue(f"tiny_{family.replace('-', '_')}")
    common = ("--model-type", family, "--seeds", "1",
              "--image-seeds", f"{media / 'horse1.jpg'};{size}")
    rendered = {}
    for folder, extra in (("plain", ()), ("weighted", ("--prompt-weighter", "sd-embed"))):
        ok(model, tmp_path / folder, *common, "--prompts", "a red dog; blurry", *extra)
        rendered[folder] = pixels(next((tmp_path / folder).iterdir()))
    assert np.array_equal(rendered["plain"], rendered["weighted"])
    ok(model, tmp_path / "long", *common, "--prompt-weighter", "sd-embed",
       "--prompts", "a (red:1.3) dog " + "on the left " * 30 + "; [blurry]")


def test_sdxl_with_a_refiner(tiny_sdxl: Path, tiny_sdxl_refiner: Path, tmp_path: Path) -> None:
    """The main model's prompts are weighted; the refiner takes its prompts as text."""
    ok(tiny_sdxl, tmp_path, "--model-type", "sdxl", "--sdxl-refiner", str(tiny_sdxl_refiner),
       "--seeds", "1", "--prompt-weighter", "sd-embed",
       "--prompts", "a (red:1.2) circle " + "on the left " * 30 + "; blurry")
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_a_weighted_colour_word_changes_the_embedded_models_picture(tmp_path: Path) -> None:
    """The example of docs/manual/prompts.md: the circle is red; weighting "blue" pulls it
    toward blue (purple with this model), on every seed the example uses."""
    import sys

    from .support import REPO

    sys.path.insert(0, str(REPO / "tools" / "embedded_model"))
    import check_quality

    plain = "a large red blue circle in the center, white background"
    weighted = "a large red (blue:1.8) circle in the center, white background"
    result = run_cli("embedded:shapes", "--prompt-weighter", "sd-embed", "--prompts", plain,
                     weighted, "--seeds", "1", "--inference-steps", "20", "--guidance-scales",
                     "4", "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    colours = [check_quality.analyse(Image.open(path))["colour"]
               for path in sorted(tmp_path.glob("*.png"), key=lambda p: p.stem[-1])]
    assert colours == ["red", "purple"], colours
