"""The compel prompt weighter: embeddings against the pipelines' own, the SD-WebUI
translation, and rendering through the command line on tiny sd and sdxl models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugins_builtin.prompt_weighters.compel.sdwui import translate_sdwui
from dgenerate.plugins_builtin.prompt_weighters.compel.weighter import CompelWeighter

from .support import BUILTIN_ONLY as ENV
from .support import render_ok as ok
from .support import render_quick as render

NAME = "s_1_g_5-0_i_2_step_1.png"


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def sd_pipeline(tiny_sd: Path):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(str(tiny_sd))


@pytest.fixture(scope="module")
def sdxl_pipeline(tiny_sdxl: Path):
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline.from_pretrained(str(tiny_sdxl))


def weigh(pipeline, model_type: str, syntax: str = "compel", **texts) -> dict:
    arguments = {"guidance_scale": 5.0, **{key: [value] for key, value in texts.items()}}
    return CompelWeighter(syntax=syntax, model_type=model_type).translate(pipeline, arguments)


# ------------------------------------------------------------------ embeddings


def test_sd_unweighted_prompt_matches_the_pipeline(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="a red circle", negative_prompt="blurry")
    assert "prompt" not in result and "negative_prompt" not in result
    assert result["guidance_scale"] == 5.0
    expected, negative = sd_pipeline.encode_prompt("a red circle", "cpu", 1, True, "blurry")
    assert torch.allclose(result["prompt_embeds"], expected, atol=1e-5)
    assert torch.allclose(result["negative_prompt_embeds"], negative, atol=1e-5)


def test_sd_without_negative_prompt_uses_the_empty_one(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt="a red circle")
    _, negative = sd_pipeline.encode_prompt("a red circle", "cpu", 1, True, None)
    assert torch.allclose(result["negative_prompt_embeds"], negative, atol=1e-5)


def test_sd_weighted_word_changes_the_embeddings(sd_pipeline) -> None:
    plain = weigh(sd_pipeline, "sd", prompt="a red circle")["prompt_embeds"]
    weighted = weigh(sd_pipeline, "sd", prompt="a (red)1.5 circle")["prompt_embeds"]
    assert weighted.shape == plain.shape
    assert not torch.allclose(weighted, plain)
    sdwui = weigh(sd_pipeline, "sd", "sdwui", prompt="a (red:1.5) circle")["prompt_embeds"]
    assert torch.allclose(sdwui, weighted)


def test_sd_long_prompt_and_negative_are_padded_to_one_length(sd_pipeline) -> None:
    result = weigh(sd_pipeline, "sd", prompt=" ".join(["red circle"] * 60),
                   negative_prompt="blurry")
    assert result["prompt_embeds"].shape[1] > 77
    assert result["prompt_embeds"].shape == result["negative_prompt_embeds"].shape


def test_sd_clip_skip(sd_pipeline) -> None:
    arguments = {"prompt": ["a red circle"], "clip_skip": 1}
    result = CompelWeighter(model_type="sd").translate(sd_pipeline, arguments)
    assert "clip_skip" not in result
    expected, _ = sd_pipeline.encode_prompt("a red circle", "cpu", 1, False, clip_skip=1)
    assert torch.allclose(result["prompt_embeds"], expected, atol=1e-5)
    with pytest.raises(DgenerateError, match="--clip-skips 2 cannot be used"):
        CompelWeighter(model_type="sd").translate(sd_pipeline, {**arguments, "clip_skip": 2})


def test_sdxl_unweighted_prompts_match_the_pipeline(sdxl_pipeline) -> None:
    result = weigh(sdxl_pipeline, "sdxl", prompt="a red circle", prompt_2="a blue square",
                   negative_prompt="blurry")
    expected = sdxl_pipeline.encode_prompt("a red circle", "a blue square", "cpu", 1, True,
                                           "blurry")
    keys = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
            "negative_pooled_prompt_embeds")
    for key, tensor in zip(keys, expected, strict=True):
        assert torch.allclose(result[key], tensor, atol=1e-5), key


def test_sdxl_without_negative_prompt_leaves_the_zeros_to_the_pipeline(sdxl_pipeline) -> None:
    result = weigh(sdxl_pipeline, "sdxl", prompt="a red circle")
    assert "negative_prompt_embeds" not in result
    expected, _, pooled, _ = sdxl_pipeline.encode_prompt("a red circle", None, "cpu", 1, True)
    assert torch.allclose(result["prompt_embeds"], expected, atol=1e-5)
    assert torch.allclose(result["pooled_prompt_embeds"], pooled, atol=1e-5)


def test_sdxl_weighted_word_changes_both_embeddings(sdxl_pipeline) -> None:
    plain = weigh(sdxl_pipeline, "sdxl", prompt="a red circle", negative_prompt="blurry")
    weighted = weigh(sdxl_pipeline, "sdxl", prompt="a (red)1.5 circle",
                     negative_prompt="blurry")
    assert not torch.allclose(weighted["prompt_embeds"], plain["prompt_embeds"])
    assert torch.allclose(weighted["negative_prompt_embeds"], plain["negative_prompt_embeds"])


# ------------------------------------------------------------ sdwui translation


@pytest.mark.parametrize(("sdwui", "compel"), [
    ("a tall man", "a tall man"),
    ("a (man:1.2) on the beach", "a (man)1.2 on the beach"),
    ("a tall man (picking apricots:1.3)", "a tall man (picking apricots)1.3"),
    ("a (word) here", "a (word)1.1 here"),
    ("((word))", "((word)1.1)1.1"),
    ("[word]", "(word)0.9091"),
    ("(a:0.5) and (b (c))", "(a)0.5 and (b (c)1.1)1.1"),
    (r"a \(literal\) bracket", r"a \(literal\) bracket"),
    ("open (end", r"open \(end"),
    ("stray) close", r"stray\) close"),
])
def test_sdwui_translation(sdwui: str, compel: str) -> None:
    assert translate_sdwui(sdwui) == compel


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize("family", ["sd", "sdxl"])
@pytest.mark.parametrize(("weighter", "prompt"), [
    ("compel", "a (red)1.4 circle; blurry"),
    ("compel;syntax=sdwui", "a ((red)) circle; [blurry]"),
])
def test_renders_and_written_configs_replay(family: str, weighter: str, prompt: str,
                                            request: pytest.FixtureRequest,
                                            tmp_path: Path) -> None:
    model = request.getfixturevalue(f"tiny_{family}")
    common = ("--model-type", family, "--seeds", "1", "--output-size", "64",
              "--prompts", prompt)
    ok(model, tmp_path / "first", *common, "--prompt-weighter", weighter, "--output-configs")
    ok(model, tmp_path / "plain", *common)
    first = pixels(tmp_path / "first" / NAME)
    assert not np.array_equal(first, pixels(tmp_path / "plain" / NAME))
    config = (tmp_path / "first" / NAME).with_suffix(".dgen")
    assert "--prompt-weighter" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(first, pixels(tmp_path / "again" / NAME))


def test_unweighted_prompt_renders_as_without_a_weighter(tiny_sd: Path,
                                                         tmp_path: Path) -> None:
    common = ("--seeds", "1", "--prompts", "a red circle; blurry")
    ok(tiny_sd, tmp_path / "weighted", *common, "--prompt-weighter", "compel")
    ok(tiny_sd, tmp_path / "plain", *common)
    difference = np.abs(pixels(tmp_path / "weighted" / NAME) - pixels(tmp_path / "plain" / NAME))
    assert difference.max() <= 1


def test_another_model_type_is_refused(tiny_sd: Path, tmp_path: Path) -> None:
    result = render(tiny_sd, tmp_path, "--model-type", "kolors", "--prompt-weighter", "compel")
    assert result.exit_code == 1
    assert "cannot weigh the prompts of --model-type kolors" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(DgenerateError, match="--model-type flux"):
        CompelWeighter(model_type="flux")


def test_a_bad_syntax_is_named(tiny_sd: Path, tmp_path: Path) -> None:
    result = render(tiny_sd, tmp_path, "--prompt-weighter", "compel;syntax=a1111")
    assert result.exit_code == 1
    assert "a1111" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(PluginArgumentError, match="syntax='a1111'"):
        CompelWeighter(syntax="a1111")  # type: ignore[arg-type]


def test_help_lists_the_arguments_without_heavy_imports() -> None:
    result = run_cli("--prompt-weighter-help", "compel", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "syntax" in result.stdout and "sdwui" in result.stdout
    assert_import_light(["--prompt-weighter-help", "compel"], forbidden=(*HEAVY_MODULES, "compel"),
                        env={"DGENERATE_DISABLE_PLUGINS": ""})


def test_textual_inversion_tokens_are_understood(tiny_sd: Path, tmp_path: Path) -> None:
    from .tiny_submodels import build_ti_a1111_safetensors

    # a multi-vector embedding: its token stands for two tokens compel must expand
    embedding = build_ti_a1111_safetensors(tmp_path / "two words.safetensors", count=2)
    common = ("--seeds", "1", "--prompts", "a two_words circle", "-ti", str(embedding))
    ok(tiny_sd, tmp_path / "weighted", *common, "--prompt-weighter", "compel")
    ok(tiny_sd, tmp_path / "plain", *common)
    ok(tiny_sd, tmp_path / "none", "--seeds", "1", "--prompts", "a two_words circle")
    weighted = pixels(tmp_path / "weighted" / NAME)
    assert np.abs(weighted - pixels(tmp_path / "plain" / NAME)).max() <= 1
    assert not np.array_equal(weighted, pixels(tmp_path / "none" / NAME))
