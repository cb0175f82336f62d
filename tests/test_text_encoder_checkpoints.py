"""--text-encoders "CLASS;model=WHOLE-MODEL-FILE;subfolder=text_encoder": a text encoder taken
out of a whole model saved as one file, with tiny models written in the key layouts of the
released checkpoints: SD 1.x (``cond_stage_model.transformer.``, .safetensors and .ckpt),
SD 2.x (OpenCLIP under ``cond_stage_model.model.``, one layer deeper than the pipeline's
encoder) and SDXL (``conditioner.embedders.0.transformer.`` and OpenCLIP with its projection
under ``conditioner.embedders.1.model.``). The model's own encoder taken from its own file
gives the picture of no --text-encoders, bit for bit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from dgenerate.plugin_api.errors import DgenerateError

from .test_text_encoders import COMMON, SDXL, failure, rendered
from .tiny_submodels import build_combined_sd_file


def _save(state: dict, path: Path) -> Path:
    from safetensors.torch import save_file

    state = {key: value.contiguous() for key, value in state.items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        import torch

        torch.save({"state_dict": state}, path)
    return path


def open_clip_layout(state: dict, prefix: str, *, projection: bool = True) -> dict:
    """A transformers CLIP text model's weights in the OpenCLIP key layout under ``prefix``."""
    import torch

    ours = {key.removeprefix("text_model."): value for key, value in state.items()}
    out = {"token_embedding.weight": ours["embeddings.token_embedding.weight"],
           "positional_embedding": ours["embeddings.position_embedding.weight"],
           "ln_final.weight": ours["final_layer_norm.weight"],
           "ln_final.bias": ours["final_layer_norm.bias"]}
    if projection:
        out["text_projection"] = ours["text_projection.weight"].T
    layers = sorted({int(key.split(".")[2]) for key in ours if key.startswith("encoder.layers.")})
    for layer in layers:
        at, to = f"encoder.layers.{layer}.", f"transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            out[f"{to}attn.in_proj_{kind}"] = torch.cat(
                [ours[f"{at}self_attn.{name}_proj.{kind}"] for name in "qkv"])
            for old, new in (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"),
                             ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"),
                             ("mlp.fc2", "mlp.c_proj")):
                out[f"{to}{new}.{kind}"] = ours[f"{at}{old}.{kind}"]
    return {prefix + key: value for key, value in out.items()}


@dataclasses.dataclass(frozen=True)
class Files:
    sd: Path  # tiny_sd as one original-layout checkpoint (.safetensors)
    sd_ckpt: Path  # the same as a pickled .ckpt ({"state_dict": ...})
    sd2: Path  # tiny_sd's encoder as SD 2.x has it: OpenCLIP, plus a last layer it skips
    sdxl: Path  # tiny_sdxl's encoders (and VAE) as SDXL checkpoints have them
    narrow: Path  # a narrower CLIP under cond_stage_model.transformer.
    other: Path  # a CLIP fitting tiny_sd, other weights, under cond_stage_model.transformer.


@pytest.fixture(scope="module")
def files(tiny_sd: Path, tiny_sdxl: Path, tmp_path_factory: pytest.TempPathFactory) -> Files:
    import torch
    from safetensors.torch import load_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from .source_fixtures import clip_to_ldm, vae_to_ldm

    root = tmp_path_factory.mktemp("text-encoder-checkpoints")
    sd = build_combined_sd_file(tiny_sd, tiny_sd / "vae", root / "sd-whole.safetensors")
    whole = load_file(str(sd))
    own = CLIPTextModel.from_pretrained(tiny_sd / "text_encoder").state_dict()
    deeper = CLIPTextConfig.from_pretrained(tiny_sd / "text_encoder")
    deeper.num_hidden_layers += 1
    torch.manual_seed(6)
    last = {key: value for key, value in CLIPTextModel(deeper).state_dict().items()
            if f"layers.{deeper.num_hidden_layers - 1}." in key}
    sd2 = {key: value for key, value in whole.items() if not key.startswith("cond_stage")}
    sd2.update(open_clip_layout({**own, **last}, "cond_stage_model.model.", projection=False))

    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(tiny_sdxl / "vae")
    first = CLIPTextModel.from_pretrained(tiny_sdxl / "text_encoder").state_dict()
    second = CLIPTextModelWithProjection.from_pretrained(tiny_sdxl / "text_encoder_2")
    sdxl = {"first_stage_model." + key: value
            for key, value in vae_to_ldm(vae.state_dict(), vae.config).items()}
    sdxl.update({key.replace("cond_stage_model.", "conditioner.embedders.0."): value
                 for key, value in clip_to_ldm(first).items()})
    sdxl.update(open_clip_layout(second.state_dict(), "conditioner.embedders.1.model."))

    narrow = CLIPTextConfig.from_pretrained(tiny_sd / "text_encoder")
    narrow.hidden_size, narrow.intermediate_size = 16, 32
    torch.manual_seed(31)
    other = clip_to_ldm(CLIPTextModel(CLIPTextConfig.from_pretrained(
        tiny_sd / "text_encoder")).state_dict())
    torch.manual_seed(5)
    return Files(other=_save(other, root / "other-whole.safetensors"), sd=sd,
                 sd_ckpt=_save(whole, root / "sd-whole.ckpt"),
                 sd2=_save(sd2, root / "sd2-whole.safetensors"),
                 sdxl=_save(sdxl, root / "sdxl-whole.safetensors"),
                 narrow=_save(clip_to_ldm(CLIPTextModel(narrow).state_dict()),
                              root / "narrow-whole.safetensors"))


def test_sd_encoder_out_of_its_own_checkpoint(tiny_sd: Path, files: Files,
                                              tmp_path: Path) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    for name, uri in {
        "safetensors": f"CLIPTextModel;model={files.sd};subfolder=text_encoder",
        "ckpt": f"CLIPTextModel;{files.sd_ckpt};subfolder=text_encoder;dtype=float32",
        "sd2": f"CLIPTextModel;model={files.sd2};subfolder=text_encoder",
        "prefix": f"CLIPTextModel;model={files.sd};subfolder=cond_stage_model.transformer",
    }.items():
        taken = rendered(tiny_sd, tmp_path / name, "--text-encoders", uri)
        assert np.array_equal(taken, plain), name
    other = rendered(tiny_sd, tmp_path / "other", "--text-encoders",
                     f"CLIPTextModel;model={files.other};subfolder=text_encoder")
    assert not np.array_equal(other, plain)


def test_sdxl_encoders_out_of_its_own_checkpoint(tiny_sdxl: Path, files: Files,
                                                 tmp_path: Path) -> None:
    plain = rendered(tiny_sdxl, tmp_path / "plain", *SDXL)
    both = rendered(tiny_sdxl, tmp_path / "both", *SDXL, "--text-encoders",
                    f"CLIPTextModel;model={files.sdxl};subfolder=text_encoder",
                    f"CLIPTextModelWithProjection;model={files.sdxl};subfolder=text_encoder_2")
    assert np.array_equal(both, plain)


@pytest.mark.parametrize(("uri", "expected"), [
    ("CLIPTextModel;model={sd};subfolder=text_encoder;quantizer=bnb",
     "quantizer cannot be given for a text encoder taken out of a whole-model checkpoint"),
    ("CLIPTextModel;model={sd};subfolder=text_encoder;mode=clip-l",
     "mode and subfolder cannot be given together"),
    ("CLIPTextModel;model={sd};subfolder=text_encoder;revision=main", "not revision"),
    ("CLIPTextModel;model={sd}", "or text_encoder_2)"),
])
def test_mistakes_are_refused_before_loading(tiny_sd: Path, files: Files, tmp_path: Path,
                                             uri: str, expected: str) -> None:
    uri = uri.format(sd=files.sd)
    stderr = failure(str(tiny_sd), "--text-encoders", uri, "--dry-run", "--output-path",
                     str(tmp_path))
    assert "--text-encoders" in stderr and expected in stderr, stderr


def test_errors_while_loading(tiny_sd: Path, files: Files, tmp_path: Path) -> None:
    run = ("--inference-steps", "1", "--output-path", str(tmp_path), *COMMON)
    stderr = failure(str(tiny_sd), *run, "-te",
                     f"CLIPTextModel;model={files.sd};subfolder=text_encoder_2")
    assert "holds no text encoder 'text_encoder_2'" in stderr, stderr
    assert "it holds text_encoder (under 'cond_stage_model.transformer.')" in stderr, stderr
    assert str(files.sd) in stderr
    stderr = failure(str(tiny_sd), *run, "-te",
                     f"CLIPTextModel;model={files.narrow};subfolder=text_encoder")
    assert "do not fit the CLIPTextModel of the model's own text_encoder" in stderr, stderr
    assert not list(tmp_path.glob("*.png"))


def test_configuration_from_the_weights(tiny_sdxl: Path, files: Files) -> None:
    """Without the main model's own encoder, the configuration is read from the weights'
    shapes (OpenCLIP: gelu, heads of 64 features): the weights load unchanged."""
    import torch
    from transformers import CLIPTextModelWithProjection

    from dgenerate.plugin_api.diffusion.text_encoder_checkpoints import (
        held_encoders,
        load_checkpoint_encoder,
    )

    loaded = load_checkpoint_encoder("-te 'x'", str(files.sdxl), "text_encoder_2",
                                     "CLIPTextModelWithProjection", None, torch.float32)
    own = CLIPTextModelWithProjection.from_pretrained(tiny_sdxl / "text_encoder_2")
    assert loaded.config.hidden_act == "gelu" and loaded.config.num_hidden_layers == 2
    theirs = own.state_dict()
    for key, value in loaded.state_dict().items():
        if "position_ids" not in key:
            assert torch.equal(value, theirs[key]), key
    from safetensors import safe_open

    with safe_open(str(files.sdxl), framework="pt") as file:
        held = held_encoders(list(file.keys()))
    assert held == ["text_encoder (under 'conditioner.embedders.0.transformer.')",
                    "text_encoder_2 (under 'conditioner.embedders.1.model.')"]
    with pytest.raises(DgenerateError, match="holds no text encoder 'nothing'"):
        load_checkpoint_encoder("-te 'x'", str(files.sdxl), "nothing", "CLIPTextModel", None,
                                torch.float32)
