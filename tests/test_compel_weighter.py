"""The compel prompt weighter: embeddings against the pipelines' own, the SD-WebUI
translation, and rendering through the command line on tiny models of every family it
weighs (sd, pix2pix, upscaler-x4, sdxl, sdxl-pix2pix and the refiner, s-cascade, flux,
flux-fill, flux-kontext).

Tolerance: where compel runs the same text encoder on the same token ids as the pipeline,
the embeddings agree to float rounding (1e-5); compel splits and re-joins the work
differently (weights applied as a blend with the unweighted pass) so bit equality is not
promised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugins_builtin.prompt_weighters.compel.sdwui import translate_sdwui
from dgenerate.plugins_builtin.prompt_weighters.compel.weighter import (
    SUPPORTED_MODEL_TYPES,
    CompelWeighter,
)

from .support import BUILTIN_ONLY as ENV
from .support import MEDIA
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
    with pytest.raises(DgenerateError, match="--model-type sd3"):
        CompelWeighter(model_type="sd3")


def test_the_light_family_list_matches_the_encoders() -> None:
    from dgenerate.plugins_builtin.prompt_weighters.compel.encode import FAMILIES

    assert set(FAMILIES) == set(SUPPORTED_MODEL_TYPES)


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


# ------------------------------------------------------- the families beyond sd / sdxl

TOLERANCE = 1e-5


def close(left, right) -> bool:
    return left.shape == right.shape and torch.allclose(left, right, atol=TOLERANCE)


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared tiny Flux recipe (tests/tiny_flux.py), built once for this module."""
    from .tiny_flux import build_flux

    return build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


@pytest.fixture(scope="session")
def tiny_flux_fill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_transformer_variants import build_flux_fill

    return build_flux_fill(tmp_path_factory.mktemp("models") / "tiny-flux-fill")


@pytest.fixture(scope="session")
def cascade(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared tiny Stable Cascade recipe (tests/tiny_s_cascade.py)."""
    from .tiny_s_cascade import build_decoder, build_prior

    root = tmp_path_factory.mktemp("s-cascade")
    return {"prior": build_prior(root / "prior"), "decoder": build_decoder(root / "decoder")}


def _load(name: str, folder: Path):
    import diffusers

    return getattr(diffusers, name).from_pretrained(str(folder))


def test_pix2pix_and_upscaler_x4_match_their_pipelines(tiny_pix2pix: Path,
                                                       tiny_upscaler_x4: Path) -> None:
    pix2pix = _load("StableDiffusionInstructPix2PixPipeline", tiny_pix2pix)
    result = weigh(pix2pix, "pix2pix", prompt="a red circle", negative_prompt="blurry")
    # this pipeline returns [positive, negative, negative] (the image-only pass)
    expected = pix2pix._encode_prompt("a red circle", "cpu", 1, True, "blurry")
    assert close(result["prompt_embeds"], expected[:1])
    assert close(result["negative_prompt_embeds"], expected[1:2])
    weighted = weigh(pix2pix, "pix2pix", prompt="a (red)1.5 circle")["prompt_embeds"]
    assert not torch.allclose(weighted, result["prompt_embeds"])

    upscaler = _load("StableDiffusionUpscalePipeline", tiny_upscaler_x4)
    result = weigh(upscaler, "upscaler-x4", prompt="a red circle")
    expected, negative = upscaler.encode_prompt("a red circle", "cpu", 1, True, None)
    assert close(result["prompt_embeds"], expected)
    assert close(result["negative_prompt_embeds"], negative)


KEYS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
        "negative_pooled_prompt_embeds")


def test_sdxl_pix2pix_matches_its_pipeline(tiny_sdxl_pix2pix: Path) -> None:
    pipeline = _load("StableDiffusionXLInstructPix2PixPipeline", tiny_sdxl_pix2pix)
    result = weigh(pipeline, "sdxl-pix2pix", prompt="a red circle", prompt_2="a blue square",
                   negative_prompt="blurry")
    expected = pipeline.encode_prompt("a red circle", "a blue square", "cpu", 1, True, "blurry")
    for key, tensor in zip(KEYS, expected, strict=True):
        assert close(result[key], tensor), key


def test_the_refiner_reads_the_primary_prompt_and_warns_of_second_prompts(
        tiny_sdxl_refiner: Path) -> None:
    refiner = _load("StableDiffusionXLImg2ImgPipeline", tiny_sdxl_refiner)
    assert refiner.text_encoder is None  # the refiner has the second encoder only
    result = weigh(refiner, "sdxl", prompt="a red circle", negative_prompt="blurry")
    expected = refiner.encode_prompt("a red circle", None, "cpu", 1, True, "blurry")
    for key, tensor in zip(KEYS, expected, strict=True):
        assert close(result[key], tensor), key
    weighted = weigh(refiner, "sdxl", prompt="a (red)1.5 circle", negative_prompt="blurry")
    assert not torch.allclose(weighted["prompt_embeds"], result["prompt_embeds"])
    with pytest.warns(UserWarning, match="--second-model-second-prompts is ignored"):
        again = weigh(refiner, "sdxl", prompt="a red circle", prompt_2="a blue square",
                      negative_prompt="blurry")
    assert close(again["prompt_embeds"], result["prompt_embeds"])


@pytest.mark.parametrize(("part", "pipeline_class"), [
    ("prior", "StableCascadePriorPipeline"), ("decoder", "StableCascadeDecoderPipeline")])
def test_s_cascade_matches_its_pipelines(cascade: dict[str, Path], part: str,
                                         pipeline_class: str) -> None:
    from dgenerate.plugins_builtin.model_types.s_cascade.loading import register_paella

    register_paella()  # the decoder's VQ model, as the family loads it
    pipeline = _load(pipeline_class, cascade[part])
    result = weigh(pipeline, "s-cascade", prompt="a red circle", negative_prompt="blurry")
    expected = pipeline.encode_prompt("cpu", 1, 1, True, "a red circle", "blurry")
    names = ("prompt_embeds", "prompt_embeds_pooled", "negative_prompt_embeds",
             "negative_prompt_embeds_pooled")
    for key, tensor in zip(names, expected, strict=True):
        assert close(result[key], tensor), key
    weighted = weigh(pipeline, "s-cascade", prompt="a (red)1.5 circle")
    assert not torch.allclose(weighted["prompt_embeds"], result["prompt_embeds"])
    # no negative prompt is the empty one, as in the pipelines
    _, _, empty, empty_pooled = pipeline.encode_prompt("cpu", 1, 1, True, "a red circle")
    assert close(weighted["negative_prompt_embeds"], empty)
    assert close(weighted["negative_prompt_embeds_pooled"], empty_pooled)


@pytest.mark.parametrize(("model_type", "pipeline_class", "folder"), [
    ("flux", "FluxPipeline", "tiny_flux"),
    ("flux-kontext", "FluxKontextPipeline", "tiny_flux"),
    ("flux-fill", "FluxFillPipeline", "tiny_flux_fill"),
])
def test_flux_primary_prompt_to_t5_second_to_clip(model_type: str, pipeline_class: str,
                                                  folder: str,
                                                  request: pytest.FixtureRequest) -> None:
    pipeline = _load(pipeline_class, request.getfixturevalue(folder))
    arguments = {"prompt": ["a red circle"], "prompt_2": ["a blue square"],
                 "max_sequence_length": 24, "guidance_scale": 3.5}
    result = CompelWeighter(model_type=model_type).translate(pipeline, arguments)
    assert result["max_sequence_length"] == 24 and "prompt" not in result
    # the pipeline's own order is the other way round: prompt -> CLIP, prompt_2 -> T5
    sequence, pooled, _ = pipeline.encode_prompt("a blue square", "a red circle", "cpu",
                                                 max_sequence_length=24)
    assert close(result["prompt_embeds"], sequence)
    assert close(result["pooled_prompt_embeds"], pooled)
    alone = CompelWeighter(model_type=model_type).translate(pipeline, {"prompt": ["a red circle"]})
    sequence, pooled, _ = pipeline.encode_prompt("a red circle", None, "cpu")
    assert close(alone["prompt_embeds"], sequence)  # 512 T5 tokens by default
    assert close(alone["pooled_prompt_embeds"], pooled)
    weighted = CompelWeighter(model_type=model_type).translate(
        pipeline, {"prompt": ["a (red)1.5 circle"]})
    assert not torch.allclose(weighted["prompt_embeds"], alone["prompt_embeds"])


FLUX_SIZE = ("--output-size", "64")
MASKED = f"{MEDIA / 'horse1.jpg'};{MEDIA / 'horse1-mask.jpg'};64"


def _family_case(name: str, request: pytest.FixtureRequest) -> tuple[Path, tuple[str, ...]]:
    """The model folder and the arguments of one render of model type ``name``."""
    if name == "s-cascade":
        models = request.getfixturevalue("cascade")
        return models["prior"], ("--s-cascade-decoder", str(models["decoder"]),
                                 "--output-size", "128")
    folder = {"pix2pix": "tiny_pix2pix", "upscaler-x4": "tiny_upscaler_x4",
              "sdxl-pix2pix": "tiny_sdxl_pix2pix", "flux": "tiny_flux",
              "flux-kontext": "tiny_flux", "flux-fill": "tiny_flux_fill"}[name]
    model = request.getfixturevalue(folder)
    extra = {"pix2pix": ("--image-seeds", f"{MEDIA / 'horse1.jpg'};64"),
             "sdxl-pix2pix": ("--image-seeds", f"{MEDIA / 'horse1.jpg'};64"),
             "upscaler-x4": ("--image-seeds", f"{MEDIA / 'horse1.jpg'};16"),
             "flux": FLUX_SIZE, "flux-kontext": FLUX_SIZE,
             "flux-fill": ("--image-seeds", MASKED)}[name]
    return model, extra


@pytest.mark.parametrize("family", ["pix2pix", "upscaler-x4", "sdxl-pix2pix", "s-cascade",
                                    "flux", "flux-fill", "flux-kontext"])
def test_new_families_render_and_replay(family: str, request: pytest.FixtureRequest,
                                        tmp_path: Path) -> None:
    model, extra = _family_case(family, request)
    prompt = "a (red)1.6 circle" if family.startswith("flux") else "a (red)1.6 circle; blurry"
    common = ("--model-type", family, "--seeds", "1", "--prompts", prompt, *extra)
    ok(model, tmp_path / "first", *common, "--prompt-weighter", "compel", "--output-configs")
    ok(model, tmp_path / "plain", *common)
    [image] = sorted((tmp_path / "first").glob("*.png"))
    [plain] = sorted((tmp_path / "plain").glob("*.png"))
    first = pixels(image)
    assert not np.array_equal(first, pixels(plain))  # the weight acted
    config = image.with_suffix(".dgen")
    assert "--prompt-weighter compel" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(first, pixels(tmp_path / "again" / image.name))
