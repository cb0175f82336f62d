"""The sd-embed prompt weighter on Stable Diffusion 3, Flux (flux, flux-fill, flux-kontext)
and the Stable Cascade prior: weighted embeddings against the pipelines' own encode_prompt,
and renders through the command line on tiny random-weight models.

Equality with the pipelines is asserted bit for bit (torch.equal). The pipelines encode
under torch.no_grad() when they render (their __call__ is decorated with it), and T5's
scaled-dot-product attention may pick another kernel with autograd on, which differs in
the last bits; so the reference encode_prompt calls below run under no_grad too, as in a
real render.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.plugin_api.testing import run_cli
from dgenerate.plugins_builtin.prompt_weighters.sd_embed.t5 import tokenize_t5
from dgenerate.plugins_builtin.prompt_weighters.sd_embed.weighter import SdEmbed

from .support import BUILTIN_ONLY as ENV
from .support import render_ok as ok

LONG = "a (red:1.3) circle " + "on the left " * 60  # ~200 CLIP tokens: three windows


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny models of the other test modules' builders, built once."""
    from .tiny_flux import build_flux
    from .tiny_s_cascade import build_decoder, build_prior
    from .tiny_sd3 import build_sd3
    from .tiny_transformer_variants import build_flux_fill

    root = tmp_path_factory.mktemp("sd-embed-models")
    flux = build_flux(root / "flux")
    return {"sd3": build_sd3(root / "sd3"), "flux": flux, "flux-kontext": flux,
            "flux-fill": build_flux_fill(root / "flux-fill"),
            "prior": build_prior(root / "prior"), "decoder": build_decoder(root / "decoder")}


@pytest.fixture(scope="module")
def pipelines(models: dict[str, Path]) -> SimpleNamespace:
    from diffusers import FluxPipeline, StableCascadePriorPipeline, StableDiffusion3Pipeline

    return SimpleNamespace(
        sd3=StableDiffusion3Pipeline.from_pretrained(str(models["sd3"])),
        flux=FluxPipeline.from_pretrained(str(models["flux"])),
        cascade=StableCascadePriorPipeline.from_pretrained(str(models["prior"])))


class Warnings:
    """A stand-in for the kernel's context that keeps the warnings."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def warn(self, message: str) -> None:
        self.messages.append(message)


def weigh(pipeline, model_type: str, context=None, **arguments) -> dict:
    listed = {key: [value] if isinstance(value, str) else value
              for key, value in arguments.items()}
    return SdEmbed(model_type=model_type, context=context).translate(
        pipeline, {"guidance_scale": 5.0, **listed})


SD3_KEYS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
            "negative_pooled_prompt_embeds")
CASCADE_KEYS = ("prompt_embeds", "prompt_embeds_pooled", "negative_prompt_embeds",
                "negative_prompt_embeds_pooled")


def sd3_reference(pipeline, prompt: str, negative: str | None = None, *, length: int = 256,
                  clip_skip: int | None = None) -> dict:
    with torch.no_grad():
        tensors = pipeline.encode_prompt(prompt, prompt, prompt, "cpu", 1, True, negative,
                                         max_sequence_length=length, clip_skip=clip_skip)
    return dict(zip(SD3_KEYS, tensors, strict=True))


# ------------------------------------------------------------------ Stable Diffusion 3


def test_sd3_unweighted_prompt_equals_the_pipeline(pipelines) -> None:
    result = weigh(pipelines.sd3, "sd3", prompt="a red circle", negative_prompt="blurry",
                   max_sequence_length=256)
    assert set(result) == {"guidance_scale", "max_sequence_length", *SD3_KEYS}
    expected = sd3_reference(pipelines.sd3, "a red circle", "blurry")
    assert result["prompt_embeds"].shape == (1, 77 + 256, 64)
    for key in SD3_KEYS:
        assert torch.equal(result[key], expected[key]), key
    ones = weigh(pipelines.sd3, "sd3", prompt="(a:1.0) (red:1) circle",
                 negative_prompt="blurry")  # no max_sequence_length: the pipeline's 256
    for key in SD3_KEYS:
        assert torch.equal(ones[key], expected[key]), key


def test_sd3_without_negative_prompt_encodes_the_empty_one(pipelines) -> None:
    result = weigh(pipelines.sd3, "sd3", prompt="a red circle", max_sequence_length=32)
    expected = sd3_reference(pipelines.sd3, "a red circle", length=32)
    for key in SD3_KEYS:
        assert torch.equal(result[key], expected[key]), key


def test_sd3_weight_scales_its_tokens_in_all_three_encoders(pipelines) -> None:
    plain = weigh(pipelines.sd3, "sd3", prompt="a red circle", negative_prompt="blurry")
    weighted = weigh(pipelines.sd3, "sd3", prompt="a (red:1.5) circle",
                     negative_prompt="blurry")
    red = (2, 77 + 1)  # CLIP: <start> a red ...; T5: a red ... </s>
    embeds, reference = weighted["prompt_embeds"][0], plain["prompt_embeds"][0]
    for index in red:
        assert reference[index].abs().sum() > 0
        assert torch.allclose(embeds[index], reference[index] * 1.5)
    others = [index for index in range(reference.shape[0]) if index not in red]
    assert torch.equal(embeds[others], reference[others])
    for key in SD3_KEYS[1:]:  # the negative and pooled embeddings are not weighted
        assert torch.equal(weighted[key], plain[key]), key


def test_sd3_long_prompt_is_windowed_for_clip_and_cut_for_t5(pipelines) -> None:
    warnings = Warnings()
    result = weigh(pipelines.sd3, "sd3", warnings, prompt=LONG, negative_prompt="blurry",
                   max_sequence_length=16)
    assert result["prompt_embeds"].shape == (1, 3 * 77 + 16, 64)
    assert result["negative_prompt_embeds"].shape == result["prompt_embeds"].shape
    # the first CLIP window is what the pipeline reads (it drops the rest), the
    # pooled embeddings come from it, T5 reads the first 15 tokens and the end token
    unweighted = LONG.replace("(red:1.3)", "red")
    expected = sd3_reference(pipelines.sd3, unweighted, "blurry", length=16)
    first = result["prompt_embeds"][:, :77].clone()
    first[:, 2] /= 1.3
    assert torch.allclose(first, expected["prompt_embeds"][:, :77])
    assert torch.equal(first[:, 3:], expected["prompt_embeds"][:, 3:77])
    assert result["prompt_embeds"][:, 77:3 * 77].abs().sum() > 0  # more windows, not padding
    for key in SD3_KEYS[2:]:
        assert torch.equal(result[key], expected[key]), key
    t5 = result["prompt_embeds"][:, 3 * 77:]
    assert torch.allclose(t5[:, 1], expected["prompt_embeds"][:, 77 + 1] * 1.3)
    assert torch.equal(t5[:, 2:], expected["prompt_embeds"][:, 77 + 2:])
    [message] = warnings.messages
    assert "reads 16 tokens (--max-sequence-length)" in message


def test_sd3_second_and_third_prompts_are_ignored_with_a_warning(pipelines) -> None:
    warnings = Warnings()
    weighter = SdEmbed(model_type="sd3", context=warnings)
    arguments = {"prompt": ["a red circle"], "prompt_2": ["a blue square"],
                 "negative_prompt_2": ["dark"], "prompt_3": ["a green dog"]}
    for _ in range(2):
        result = weighter.translate(pipelines.sd3, arguments)
    assert not {"prompt_2", "negative_prompt_2", "prompt_3"} & set(result)
    expected = sd3_reference(pipelines.sd3, "a red circle")
    for key in SD3_KEYS:
        assert torch.equal(result[key], expected[key]), key
    assert warnings.messages == [  # once per weighter, not per job
        "--prompt-weighter sd-embed ignores --second-prompts and --third-prompts with "
        "--model-type sd3: all three text encoders read the primary prompt"]


def test_sd3_clip_skip(pipelines) -> None:
    result = weigh(pipelines.sd3, "sd3", prompt="a red circle", clip_skip=1)
    assert "clip_skip" not in result
    expected = sd3_reference(pipelines.sd3, "a red circle", clip_skip=1)
    assert torch.equal(result["prompt_embeds"], expected["prompt_embeds"])
    assert not torch.equal(result["prompt_embeds"],
                           sd3_reference(pipelines.sd3, "a red circle")["prompt_embeds"])


# ------------------------------------------------------------------------------- Flux


def flux_reference(pipeline, prompt: str, prompt_2: str | None = None, *,
                   length: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        embeds, pooled, _ = pipeline.encode_prompt(prompt, prompt_2, "cpu", 1,
                                                   max_sequence_length=length)
    return embeds, pooled


def test_flux_unweighted_prompts_equal_the_pipeline(pipelines) -> None:
    result = weigh(pipelines.flux, "flux", prompt="a red circle", max_sequence_length=512)
    assert set(result) == {"guidance_scale", "max_sequence_length", "prompt_embeds",
                           "pooled_prompt_embeds"}
    embeds, pooled = flux_reference(pipelines.flux, "a red circle")
    assert torch.equal(result["prompt_embeds"], embeds)
    assert torch.equal(result["pooled_prompt_embeds"], pooled)
    # as the pipeline routes them: prompt to CLIP (pooled), prompt_2 to T5
    result = weigh(pipelines.flux, "flux", prompt="a red circle", prompt_2="a blue square",
                   max_sequence_length=64)
    embeds, pooled = flux_reference(pipelines.flux, "a red circle", "a blue square", length=64)
    assert torch.equal(result["prompt_embeds"], embeds)
    assert torch.equal(result["pooled_prompt_embeds"], pooled)
    assert not torch.equal(embeds, flux_reference(pipelines.flux, "a red circle",
                                                  length=64)[0])


def test_flux_weight_scales_its_t5_tokens_only(pipelines) -> None:
    plain = weigh(pipelines.flux, "flux", prompt="a red circle", max_sequence_length=32)
    weighted = weigh(pipelines.flux, "flux", prompt="a (red:0.5) circle",
                     max_sequence_length=32)
    embeds, reference = weighted["prompt_embeds"][0], plain["prompt_embeds"][0]
    assert torch.allclose(embeds[1], reference[1] * 0.5)
    assert torch.equal(embeds[[0, *range(2, 32)]], reference[[0, *range(2, 32)]])
    assert torch.equal(weighted["pooled_prompt_embeds"], plain["pooled_prompt_embeds"])


def test_flux_t5_reads_max_sequence_length_tokens(pipelines) -> None:
    warnings = Warnings()
    unweighted = LONG.replace("(red:1.3)", "red")
    result = weigh(pipelines.flux, "flux", warnings, prompt=unweighted, max_sequence_length=8)
    embeds, pooled = flux_reference(pipelines.flux, unweighted, length=8)
    assert torch.equal(result["prompt_embeds"], embeds)
    assert torch.equal(result["pooled_prompt_embeds"], pooled)
    [message] = warnings.messages
    assert "reads 8 tokens (--max-sequence-length), and" in message and "CLIP" not in message


def test_flux_negative_prompts_are_ignored_with_a_warning(pipelines) -> None:
    warnings = Warnings()
    result = weigh(pipelines.flux, "flux-kontext", warnings, prompt="a red circle",
                   negative_prompt="blurry", max_sequence_length=16)
    assert "negative_prompt" not in result and "negative_prompt_embeds" not in result
    assert torch.equal(result["prompt_embeds"],
                       flux_reference(pipelines.flux, "a red circle", length=16)[0])
    assert warnings.messages == ["--prompt-weighter sd-embed ignores negative prompts with "
                                 "Flux, which runs no classifier-free guidance"]


def test_t5_tokens_are_those_of_the_text_without_syntax(pipelines) -> None:
    tokenizer = pipelines.flux.tokenizer_2
    tokens = tokenize_t5(pipelines.flux, tokenizer, "a (red:1.5), [blue] circle")
    assert tokens.ids == tokenizer("a red, blue circle", add_special_tokens=False).input_ids
    assert tokens.weights == pytest.approx([1.0, 1.5, 1.0, 1 / 1.1, 1.0])


# ---------------------------------------------------------------------- Stable Cascade


def test_cascade_unweighted_prompt_equals_the_pipeline(pipelines) -> None:
    for negative in ("blurry", None):
        result = weigh(pipelines.cascade, "s-cascade", prompt="a red circle",
                       **({"negative_prompt": negative} if negative else {}))
        assert set(result) == {"guidance_scale", *CASCADE_KEYS}
        with torch.no_grad():
            expected = pipelines.cascade.encode_prompt(
                "cpu", 1, 1, True, ["a red circle"], [negative] if negative else None)
        for key, tensor in zip(CASCADE_KEYS, expected, strict=True):
            assert torch.equal(result[key], tensor), (key, negative)


def test_cascade_weights_and_long_prompts(pipelines) -> None:
    plain = weigh(pipelines.cascade, "s-cascade", prompt="a red circle")
    weighted = weigh(pipelines.cascade, "s-cascade", prompt="a ((red)) circle")
    assert torch.allclose(weighted["prompt_embeds"][0, 2], plain["prompt_embeds"][0, 2] * 1.21)
    weighted["prompt_embeds"][0, 2] = plain["prompt_embeds"][0, 2]
    for key in CASCADE_KEYS:
        assert torch.equal(weighted[key], plain[key]), key
    long = weigh(pipelines.cascade, "s-cascade", prompt=LONG, negative_prompt="blurry")
    assert long["prompt_embeds"].shape[1] == long["negative_prompt_embeds"].shape[1] == 3 * 77


def test_cascade_decoder_prompts_encode_the_same_way(models: dict[str, Path]) -> None:
    """The decoder encodes its prompt as the prior does, so the weighter serves it too
    (for a weighter of the second model's prompts)."""
    from diffusers import DDPMWuerstchenScheduler, StableCascadeDecoderPipeline, StableCascadeUNet
    from diffusers.pipelines.deprecated.wuerstchen.modeling_paella_vq_model import (
        PaellaVQModel,
    )
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    folder = models["decoder"]
    decoder = StableCascadeDecoderPipeline(
        decoder=StableCascadeUNet.from_pretrained(folder / "decoder"),
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
        text_encoder=CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder"),
        scheduler=DDPMWuerstchenScheduler(), vqgan=PaellaVQModel.from_pretrained(folder / "vqgan"))
    result = SdEmbed().translate(decoder, {"prompt": ["a red circle"],
                                           "negative_prompt": ["blurry"]})
    with torch.no_grad():
        expected = decoder.encode_prompt("cpu", 1, 1, True, ["a red circle"], ["blurry"])
    for key, tensor in zip(CASCADE_KEYS, expected, strict=True):
        assert torch.equal(result[key], tensor), key


# ------------------------------------------------------------------ the command line


def pixels(folder: Path) -> np.ndarray:
    [path] = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def cli_arguments(family: str, models: dict[str, Path], media: Path) -> list[str]:
    arguments = {
        "sd3": [str(models["sd3"])],
        "flux": [str(models["flux"]), "--max-sequence-length", "64", "--output-size", "64"],
        "flux-kontext": [str(models["flux"]), "--output-size", "64x32"],
        "flux-fill": [str(models["flux-fill"]), "--image-seeds",
                      f"{media / 'horse1.jpg'};{media / 'horse1-mask.jpg'};64"],
        "s-cascade": [str(models["prior"]), "--s-cascade-decoder", str(models["decoder"]),
                      "--output-size", "64"],
    }[family]
    return [*arguments, "--model-type", family, "--seeds", "1"]


NEGATIVE = {"sd3": "; blurry", "s-cascade": "; blurry"}  # Flux takes none


@pytest.mark.parametrize("family", ["sd3", "flux", "flux-kontext", "flux-fill", "s-cascade"])
def test_unweighted_prompt_renders_as_without_a_weighter(
        family: str, models: dict[str, Path], media: Path, tmp_path: Path) -> None:
    model, *common = cli_arguments(family, models, media)
    prompt = "a red circle" + NEGATIVE.get(family, "")
    ok(model, tmp_path / "weighted", *common, "--prompts", prompt, "--prompt-weighter",
       "sd-embed")
    ok(model, tmp_path / "plain", *common, "--prompts", prompt)
    assert np.array_equal(pixels(tmp_path / "weighted"), pixels(tmp_path / "plain"))


@pytest.mark.parametrize("family", ["sd3", "flux", "s-cascade"])
def test_weighted_long_prompts_render_and_written_configs_replay(
        family: str, models: dict[str, Path], media: Path, tmp_path: Path) -> None:
    model, *common = cli_arguments(family, models, media)
    prompt = LONG + NEGATIVE.get(family, "")
    ok(model, tmp_path / "first", *common, "--prompts", prompt, "--prompt-weighter",
       "sd-embed", "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert "--prompt-weighter sd-embed" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(pixels(tmp_path / "first"), pixels(tmp_path / "again"))
    # the weight counts: the same prompt unweighted makes another picture
    ok(model, tmp_path / "plain", *common, "--prompts",
       LONG.replace("(red:1.3)", "red") + NEGATIVE.get(family, ""), "--prompt-weighter",
       "sd-embed")
    assert not np.array_equal(pixels(tmp_path / "first"), pixels(tmp_path / "plain"))


def test_sd3_second_prompts_warn_on_the_command_line(models: dict[str, Path], media: Path,
                                                     tmp_path: Path) -> None:
    model, *common = cli_arguments("sd3", models, media)
    result = ok(model, tmp_path, *common, "--prompts", "a red circle", "--second-prompts",
                "a blue square", "--prompt-weighter", "sd-embed")
    assert ("dgenerate: warning: --prompt-weighter sd-embed ignores --second-prompts with "
            "--model-type sd3") in result.stderr


def test_other_model_types_are_refused_naming_the_supported_ones() -> None:
    from dgenerate.plugin_api import DgenerateError

    with pytest.raises(DgenerateError) as error:
        SdEmbed(model_type="sd3-pix2pix")
    assert str(error.value) == (
        "--prompt-weighter sd-embed cannot weigh prompts for --model-type sd3-pix2pix: it "
        "supports --model-type sd, pix2pix, upscaler-x4, sdxl, sdxl-pix2pix, s-cascade, sd3, "
        "flux, flux-fill, flux-kontext")


def test_help_names_the_new_families() -> None:
    result = run_cli("--prompt-weighter-help", "sd-embed", env=ENV)
    assert result.exit_code == 0, result.stderr
    for words in ("Stable Cascade (s-cascade)", "Stable Diffusion 3 (sd3)",
                  "flux-kontext", "--third-prompts", "--max-sequence-length"):
        assert words in result.stdout, words
