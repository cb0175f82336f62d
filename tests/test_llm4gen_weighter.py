"""The llm4gen prompt weighter on tiny local models: a RankGen-shaped T5 checkpoint (keys
under ``t5_encoder.``, with RankGen's extra ``projection``), a T5 tokenizer and a random
LLM4GEN projector saved as ``projector.pth`` with the published key names, all put into a
fake Hugging Face cache under the real repository ids, so the default arguments load them
offline through the same code a user's download takes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugins_builtin.prompt_weighters.llm4gen.projector import CrossAdapter
from dgenerate.plugins_builtin.prompt_weighters.llm4gen.sources import t5_config
from dgenerate.plugins_builtin.prompt_weighters.llm4gen.syntax import strip_weights
from dgenerate.plugins_builtin.prompt_weighters.llm4gen.weighter import Llm4genWeighter

from .source_fixtures import hub_cache_entry
from .support import BUILTIN_ONLY
from .tiny_models import WORDS

T5_WIDTH, CLIP_WIDTH = 16, 32  # CLIP width of the tiny SD models
NAME = "s_1_g_5-0_i_2_step_1.png"
#: the key names of the published projector.pth
PROJECTOR_KEYS = {f"CrossFusionModule.0.{name}.{kind}"
                  for name in ("llm_proj", "q_proj", "k_proj", "v_proj", "out_proj", "q_norm",
                               "kv_norm", "norm", "FFN.0", "FFN.2")
                  for kind in ("weight", "bias")}


def t5_tokenizer():
    """A Unigram T5 tokenizer built in memory (no sentencepiece model needed)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(f"\u2581{word}", -1.0) for word in [*WORDS, "pre"]]
    letters = sorted(set("".join(WORDS) + "pre"))
    pieces += [(letter, -3.0) for letter in letters] + [(f"\u2581{c}", -3.5) for c in letters]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def build_rankgen(folder: Path, tokenizer_folder: Path) -> None:
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(1)
    tokenizer = t5_tokenizer()
    tokenizer.save_pretrained(tokenizer_folder)
    config = T5Config(vocab_size=len(tokenizer), d_model=T5_WIDTH, d_kv=4, d_ff=32,
                      num_layers=2, num_heads=4, feed_forward_proj="gated-gelu")
    model = T5EncoderModel(config)
    for parameter in model.parameters():  # larger than the default init: visible effects
        torch.nn.init.normal_(parameter, std=0.5)
    state = {f"t5_encoder.{key}": value.clone() for key, value in model.state_dict().items()}
    state["projection.weight"] = torch.randn(T5_WIDTH, T5_WIDTH)
    folder.mkdir(parents=True)
    torch.save(state, folder / "pytorch_model.bin")
    raw = {**config.to_dict(), "architectures": ["T5EncoderWithProjection"],
           "model_size": "xl"}
    (folder / "config.json").write_text(json.dumps(raw))


def build_projector(path: Path, *, clip: int = CLIP_WIDTH, llm: int = T5_WIDTH,
                    seed: int = 2) -> Path:
    torch.manual_seed(seed)
    adapter = CrossAdapter(clip, llm)
    for parameter in adapter.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(adapter.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llm4gen")
    build_rankgen(root / "rankgen", root / "tokenizer")
    build_projector(root / "projector" / "projector.pth")
    build_projector(root / "other" / "sub" / "cam.pth", seed=5)
    cache = root / "hub"
    hub_cache_entry(cache, "kalpeshk2011/rankgen-t5-xl-all", {"main": root / "rankgen"})
    hub_cache_entry(cache, "google/t5-v1_1-xl", {"main": root / "tokenizer"})
    hub_cache_entry(cache, "Shui-VL/LLM4GEN-models", {
        "main": {"projector.pth": root / "projector" / "projector.pth"},
        "other": {"sub/cam.pth": root / "other" / "sub" / "cam.pth"}})
    local = root / "local-encoder"  # a folder: the encoder with its tokenizer beside it
    shutil.copytree(root / "rankgen", local)
    for path in (root / "tokenizer").iterdir():
        shutil.copy(path, local / path.name)
    return {"cache": cache, "root": root, "local": local}


@pytest.fixture
def hub(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(models["cache"]))
    monkeypatch.setenv("HF_HUB_CACHE", str(models["cache"]))
    return models["cache"]


@pytest.fixture(scope="module")
def sd_pipeline(tiny_sd: Path):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(str(tiny_sd))


def _plugins():
    """A plugin context with the builtin plugins, as dgenerate gives one to a weighter."""
    from dgenerate.kernel.plugins.context import KernelContext
    from dgenerate.plugin_api.testing import isolated_plugin_manager

    return KernelContext(isolated_plugin_manager())


def render(model: Path, out: Path, *args: str):
    return run_cli(str(model), "--output-path", str(out), "--inference-steps", "2",
                   "--seeds", "1", "--guidance-scales", "5", "--offline-mode", *args,
                   env=BUILTIN_ONLY)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


# ------------------------------------------------------------------ the module

def test_projector_keys_are_the_published_names() -> None:
    assert set(CrossAdapter(CLIP_WIDTH, T5_WIDTH).state_dict()) == PROJECTOR_KEYS


def test_projector_appends_the_fused_llm_tokens_to_the_clip_tokens() -> None:
    torch.manual_seed(0)
    adapter = CrossAdapter(CLIP_WIDTH, T5_WIDTH).eval()
    clip, llm = torch.randn(2, 77, CLIP_WIDTH), torch.randn(2, 256, T5_WIDTH)
    out = adapter(clip, llm)
    assert out.shape == (2, 77 + 256, CLIP_WIDTH)
    assert torch.equal(out[:, :77], clip)  # the CLIP tokens pass unchanged
    # the fused tokens depend on the CLIP tokens (cross attention) and on the LLM ones
    assert not torch.allclose(adapter(clip + 1, llm)[:, 77:], out[:, 77:])
    assert not torch.allclose(adapter(clip, llm + 1)[:, 77:], out[:, 77:])


def test_strip_weights_keeps_the_words() -> None:
    assert strip_weights("a (red:1.3) [cat] on a ((mat)), dog++") == "a red cat on a mat, dog"
    assert strip_weights("(a tall man)1.2 and cat--") == "a tall man and cat"
    assert strip_weights(r"a \(literal\) x-ray") == "a (literal) x-ray"


def test_t5_config_from_a_size_when_the_config_has_no_t5_fields() -> None:
    config = t5_config({"model_size": "xl", "architectures": ["X"]}, None)
    assert (config["d_model"], config["num_layers"], config["feed_forward_proj"]) == (
        2048, 24, "gated-gelu")
    with pytest.raises(DgenerateError, match="names no T5 size"):
        t5_config({}, None)


# ------------------------------------------------------------------ weighting in code

def test_embeddings_fuse_clip_and_t5(hub: Path, sd_pipeline) -> None:
    weighter = Llm4genWeighter(model_type="sd")
    out = weighter.translate(sd_pipeline, {"prompt": ["a red cat"], "guidance_scale": 5.0})
    assert set(out) == {"prompt_embeds", "negative_prompt_embeds", "guidance_scale"}
    positive, negative = out["prompt_embeds"], out["negative_prompt_embeds"]
    assert positive.shape == negative.shape == (1, 77 + 256, CLIP_WIDTH)
    # the first 77 tokens are the pipeline's own CLIP embeddings
    expected, _ = sd_pipeline.encode_prompt("a red cat", "cpu", 1, False)
    assert torch.allclose(positive[:, :77], expected, atol=1e-6)
    # a second prompt (from --second-prompts) changes only the fused T5 tokens
    other = weighter.translate(sd_pipeline, {"prompt": ["a red cat"], "prompt_2": ["a dog"]})
    assert torch.equal(other["prompt_embeds"][:, :77], positive[:, :77])
    assert not torch.allclose(other["prompt_embeds"][:, 77:], positive[:, 77:])


def test_t5_reads_the_prompt_without_weights_when_a_weighter_is_given(
        hub: Path, sd_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    weighted = Llm4genWeighter(model_type="sd", weighter="sd-embed", context=_plugins())
    read: list[list[str]] = []
    encode = weighted._rankgen.encode
    monkeypatch.setattr(weighted._rankgen, "encode",
                        lambda texts, device: read.append(texts) or encode(texts, device))
    out = weighted.translate(sd_pipeline, {"prompt": ["a (red:1.5) cat"],
                                           "negative_prompt": ["[dog]"]})
    assert read[-1] == ["a red cat", "dog"]
    clean = Llm4genWeighter(model_type="sd").translate(sd_pipeline, {"prompt": ["a red cat"]})
    # the CLIP part is weighted: it differs from the plain prompt's
    assert not torch.allclose(out["prompt_embeds"][:, :77], clean["prompt_embeds"][:, :77])
    # an explicit second prompt is read as written
    weighted.translate(sd_pipeline, {"prompt": ["a (red:1.5) cat"],
                                     "prompt_2": ["a (red:1.5) cat"]})
    assert read[-1] == ["a (red:1.5) cat", ""]
    # without a weighter nothing is stripped (brackets are just text to the pipeline too)
    plain = Llm4genWeighter(model_type="sd")
    monkeypatch.setattr(plain._rankgen, "encode",
                        lambda texts, device: read.append(texts) or encode(texts, device))
    plain.translate(sd_pipeline, {"prompt": ["a (red:1.5) cat"]})
    assert read[-1] == ["a (red:1.5) cat", ""]


def test_the_clip_weighter_needs_the_plugins(hub: Path) -> None:
    """The CLIP half is another weighter plugin, made through the plugin context."""
    with pytest.raises(DgenerateError, match="weighter=sd-embed needs dgenerate's plugins"):
        Llm4genWeighter(model_type="sd", weighter="sd-embed")


def test_compel_weighter_for_the_clip_part(hub: Path, sd_pipeline) -> None:
    pytest.importorskip("compel")
    out = Llm4genWeighter(model_type="sd", weighter="compel", context=_plugins()).translate(
        sd_pipeline, {"prompt": ["a (red)1.5 cat"], "negative_prompt": ["dog"]})
    assert out["prompt_embeds"].shape == out["negative_prompt_embeds"].shape
    assert out["prompt_embeds"].shape[1] == 77 + 256


def test_models_are_loaded_once(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    from dgenerate.plugin_api import caching

    monkeypatch.setattr(caching, "_LOCAL", collections.OrderedDict())
    first, second = Llm4genWeighter(), Llm4genWeighter()
    assert first._rankgen is second._rankgen and first._projector is second._projector
    assert Llm4genWeighter(llm_dtype="bfloat16")._rankgen is not first._rankgen


def test_a_local_encoder_folder_and_projector_file(models: dict[str, Path], sd_pipeline,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    projector = models["root"] / "projector" / "projector.pth"
    weighter = Llm4genWeighter(encoder=str(models["local"]), projector=str(projector))
    out = weighter.translate(sd_pipeline, {"prompt": ["a cat"]})
    assert out["prompt_embeds"].shape == (1, 333, CLIP_WIDTH)
    folder = Llm4genWeighter(encoder=str(models["local"]),
                             projector=str(models["root"] / "other"),
                             projector_subfolder="sub", projector_weight_name="cam.pth")
    assert not torch.equal(folder.translate(sd_pipeline, {"prompt": ["a cat"]})[
        "prompt_embeds"], out["prompt_embeds"])


def test_projector_revision_and_subfolder_in_the_hub(hub: Path, sd_pipeline) -> None:
    main = Llm4genWeighter().translate(sd_pipeline, {"prompt": ["a cat"]})
    other = Llm4genWeighter(projector_revision="other", projector_subfolder="sub",
                            projector_weight_name="cam.pth").translate(
        sd_pipeline, {"prompt": ["a cat"]})
    assert not torch.equal(main["prompt_embeds"], other["prompt_embeds"])


@pytest.mark.parametrize(("arguments", "message"), [
    ({"weighter": "nope"}, "weighter='nope'"),
    ({"llm_dtype": "int8"}, "llm-dtype='int8'"),
    ({"encoder": "huge-all"}, "encoder='huge-all'"),
    ({"model_type": "sdxl"}, "--model-type sdxl"),
])
def test_bad_arguments_name_the_value(arguments: dict, message: str) -> None:
    with pytest.raises((DgenerateError, PluginArgumentError), match=message):
        Llm4genWeighter(**arguments)


def test_missing_files_are_named(hub: Path) -> None:
    with pytest.raises(DgenerateError, match="'nothing.pth'.*not in the local Hugging Face"):
        Llm4genWeighter(projector_weight_name="nothing.pth")
    with pytest.raises(DgenerateError, match="rankgen-t5-base-all"):
        Llm4genWeighter(encoder="base-all")


def test_a_projector_of_other_weights_is_refused(hub: Path, tmp_path: Path) -> None:
    torch.save({"something": torch.zeros(2)}, tmp_path / "bad.pth")
    with pytest.raises(DgenerateError, match="does not hold the weights of an LLM4GEN"):
        Llm4genWeighter(projector=str(tmp_path / "bad.pth"))
    build_projector(tmp_path / "wide.pth", llm=24)
    with pytest.raises(DgenerateError, match="takes 24 wide T5 features"):
        Llm4genWeighter(projector=str(tmp_path / "wide.pth"))


# ------------------------------------------------------------------ the command line

def test_render_through_the_cli_is_reproducible(hub: Path, tiny_sd: Path,
                                                tmp_path: Path) -> None:
    plain = render(tiny_sd, tmp_path / "plain", "--prompts", "a red cat")
    assert plain.exit_code == 0, plain.stderr
    result = render(tiny_sd, tmp_path / "llm", "--prompts", "a red cat", "--prompt-weighter",
                    "llm4gen;encoder=xl-all", "--output-configs")
    assert result.exit_code == 0, result.stderr
    image = pixels(tmp_path / "llm" / NAME)
    assert np.abs(image - pixels(tmp_path / "plain" / NAME)).max() > 0
    config = (tmp_path / "llm" / NAME).with_suffix(".dgen")
    assert "llm4gen;encoder=xl-all" in config.read_text()
    replay = run_cli("--file", str(config), "--output-path", str(tmp_path / "replay"),
                     "--offline-mode", env=BUILTIN_ONLY)
    assert replay.exit_code == 0, replay.stderr
    assert np.array_equal(pixels(tmp_path / "replay" / NAME), image)


def test_sd2_like_model_is_refused(hub: Path, tiny_sd: Path, tmp_path: Path) -> None:
    model = tmp_path / "sd2-like"
    shutil.copytree(tiny_sd, model)
    config_path = model / "text_encoder" / "config.json"
    config = json.loads(config_path.read_text())
    config["hidden_act"] = "gelu"  # OpenCLIP ViT-H, as in Stable Diffusion 2.x
    config_path.write_text(json.dumps(config))
    result = render(model, tmp_path / "out", "--prompts", "a cat", "--prompt-weighter",
                    "llm4gen")
    assert result.exit_code != 0
    assert "does not support Stable Diffusion 2.x" in result.stderr
    assert "Traceback" not in result.stderr


def test_unsupported_model_type_is_refused(hub: Path, tiny_sdxl: Path, tmp_path: Path) -> None:
    result = render(tiny_sdxl, tmp_path / "out", "--model-type", "sdxl", "--prompts", "a cat",
                    "--prompt-weighter", "llm4gen")
    assert result.exit_code != 0
    assert "--model-type sdxl" in result.stderr and "Stable Diffusion 1.5" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_quantizer_uri_is_named(hub: Path, tiny_sd: Path, tmp_path: Path) -> None:
    result = render(tiny_sd, tmp_path / "out", "--prompts", "a cat", "--prompt-weighter",
                    "llm4gen;llm-quantizer=no-such-backend")
    assert result.exit_code != 0
    assert "llm-quantizer='no-such-backend'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("family", "size"), [("pix2pix", 64), ("upscaler-x4", 16)])
def test_pix2pix_and_upscaler_x4_render(family: str, size: int, hub: Path,
                                        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from .support import MEDIA

    model = request.getfixturevalue(f"tiny_{family.replace('-', '_')}")
    common = ("--model-type", family, "--prompts", "a (red:1.4) cat; blurry",
              "--image-seeds", f"{MEDIA / 'horse1.jpg'};{size}")
    result = render(model, tmp_path / "llm", *common,
                    "--prompt-weighter", "llm4gen;weighter=sd-embed")
    assert result.exit_code == 0, result.stderr
    plain = render(model, tmp_path / "plain", *common)
    assert plain.exit_code == 0, plain.stderr
    [image] = sorted((tmp_path / "llm").glob("*.png"))
    assert np.abs(pixels(image) - pixels(tmp_path / "plain" / image.name)).max() > 0


def test_listing_shows_every_argument_and_imports_nothing_heavy() -> None:
    result = run_cli("--prompt-weighter-help", "llm4gen", env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    for line in ('encoder: str = "xl-all"', 'projector: str = "Shui-VL/LLM4GEN-models"',
                 "projector-subfolder: str | None = None",
                 "projector-revision: str | None = None",
                 'projector-weight-name: str = "projector.pth"',
                 "weighter: str | None = None", 'llm-dtype: str = "float32"',
                 "llm-quantizer: str | None = None", "token: str | None = None"):
        assert line in result.stdout
    assert "model-type" not in result.stdout.split("\n\n")[0]  # hidden arguments
    assert_import_light(["--prompt-weighter-help", "llm4gen"], forbidden=HEAVY_MODULES,
                        env=BUILTIN_ONLY)
