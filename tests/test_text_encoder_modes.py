"""--text-encoders "CLASS;model=FILE;mode=...": monolithic single-file text encoders, built
locally from tiny models (the tiny sizes take their configuration from the encoder they
replace)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dgenerate.plugin_api.errors import DgenerateError

from .test_text_encoders import COMMON, failure, rendered


def _save(state: dict, path: Path, prefix: str = "") -> Path:
    from safetensors.torch import save_file

    save_file({prefix + key: value.contiguous() for key, value in state.items()}, str(path))
    return path


@pytest.fixture(scope="module")
def files(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    root = tmp_path_factory.mktemp("text-encoder-modes")
    own = CLIPTextModel.from_pretrained(tiny_sd / "text_encoder").state_dict()
    config = CLIPTextConfig.from_pretrained(tiny_sd / "text_encoder")
    config.hidden_size, config.intermediate_size = 16, 32
    torch.manual_seed(5)
    narrow = CLIPTextModel(config).state_dict()
    return {"own": _save(own, root / "clip_l.safetensors"),
            "prefixed": _save(own, root / "sd15.safetensors", "cond_stage_model.transformer."),
            "narrow": _save(narrow, root / "narrow.safetensors")}


def test_clip_l_file_replaces_the_model_s_own(tiny_sd: Path, files: dict[str, Path],
                                              tmp_path: Path) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    own = rendered(tiny_sd, tmp_path / "own", "-te",
                   f"CLIPTextModel;model={files['own']};mode=clip-l")
    prefixed = rendered(tiny_sd, tmp_path / "prefixed", "-te",
                        f"CLIPTextModel;model={files['prefixed']};mode=clip-l;dtype=float32")
    assert np.array_equal(own, plain) and np.array_equal(prefixed, plain)


@pytest.mark.parametrize(("uri", "expected"), [
    ("CLIPTextModel;model={own};mode=clip-x", "unknown mode 'clip-x'; did you mean 'clip-l'?"),
    ("CLIPTextModel;model={own};mode=clip-l;subfolder=text_encoder",
     "mode and subfolder cannot be given together"),
    ("CLIPTextModel;model={folder};mode=clip-l", "mode= is for a single-file text encoder"),
    ("T5EncoderModel;model={own};mode=clip-l", "not a T5EncoderModel"),
    ("CLIPTextModel;model={own};mode=t5-xxl", "which is a T5EncoderModel, not a CLIPTextModel"),
    ("CLIPTextModel;model={own};mode=clip-l;revision=main", "not revision"),
    ("CLIPTextModel;model={own}", "needs mode="),
])
def test_mode_mistakes_are_refused_before_loading(tiny_sd: Path, files: dict[str, Path],
                                                  tmp_path: Path, uri: str,
                                                  expected: str) -> None:
    uri = uri.format(own=files["own"], folder=tiny_sd)
    stderr = failure(str(tiny_sd), "--text-encoders", uri, "--dry-run", "--output-path",
                     str(tmp_path))
    assert "--text-encoders" in stderr and expected in stderr, stderr


def test_mode_errors_while_loading(tiny_sd: Path, files: dict[str, Path],
                                  tmp_path: Path) -> None:
    run = ("--inference-steps", "1", "--output-path", str(tmp_path), *COMMON)
    stderr = failure(str(tiny_sd), *run, "-te",
                     f"CLIPTextModel;model={files['narrow']};mode=clip-l")
    assert "do not fit the clip-l configuration of the model's own text_encoder" in stderr
    assert str(files["narrow"]) in stderr
    stderr = failure(str(tiny_sd), *run, "-te",
                     f"T5EncoderModel;model={files['own']};mode=t5-xxl")
    assert "takes a CLIPTextModel, not a T5EncoderModel" in stderr
    assert not list(tmp_path.glob("*.png"))


def test_t5_file_layouts(tmp_path: Path) -> None:
    import torch
    from transformers import T5Config, T5EncoderModel

    from dgenerate.plugin_api.diffusion.text_encoder_modes import MODES, load_mode_file

    config = T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
                      feed_forward_proj="gated-gelu", architectures=["T5EncoderModel"])
    torch.manual_seed(3)
    model = T5EncoderModel(config).eval()
    state = {key: value for key, value in model.state_dict().items()
             if key != "encoder.embed_tokens.weight"}  # as ComfyUI files hold it
    path = _save(state, tmp_path / "t5.safetensors", "text_encoders.t5xxl.transformer.")
    loaded = load_mode_file("-te 'x'", str(path), MODES["t5-xxl-sd3"], "T5EncoderModel",
                            (config, "a test config"), torch.float32)
    ids = torch.tensor([[1, 5, 9, 2]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).last_hidden_state, model(ids).last_hidden_state)
    with pytest.raises(DgenerateError, match="do not fit the t5-xxl configuration of "
                                             "dgenerate's built-in one"):
        load_mode_file("-te 'x'", str(path), MODES["t5-xxl"], "T5EncoderModel", None,
                       torch.float32)


def test_open_clip_layout_is_converted(tmp_path: Path) -> None:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from dgenerate.plugin_api.diffusion.text_encoder_modes import MODES, load_mode_file

    config = CLIPTextConfig(vocab_size=100, hidden_size=32, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=4, projection_dim=32,
                            hidden_act="gelu", architectures=["CLIPTextModelWithProjection"])
    torch.manual_seed(4)
    model = CLIPTextModelWithProjection(config).eval()
    ours = {key.removeprefix("text_model."): value for key, value in model.state_dict().items()}
    prefix = "conditioner.embedders.1.model."
    state = {"token_embedding.weight": ours["embeddings.token_embedding.weight"],
             "positional_embedding": ours["embeddings.position_embedding.weight"],
             "ln_final.weight": ours["final_layer_norm.weight"],
             "ln_final.bias": ours["final_layer_norm.bias"],
             "text_projection": ours["text_projection.weight"].T}
    for layer in range(2):
        at, to = f"encoder.layers.{layer}.", f"transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            state[f"{to}attn.in_proj_{kind}"] = torch.cat(
                [ours[f"{at}self_attn.{name}_proj.{kind}"] for name in "qkv"])
            for old, new in (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"),
                             ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"),
                             ("mlp.fc2", "mlp.c_proj")):
                state[f"{to}{new}.{kind}"] = ours[f"{at}{old}.{kind}"]
    path = _save(state, tmp_path / "clip_g.safetensors", prefix)
    loaded = load_mode_file("-te 'x'", str(path), MODES["clip-g-sd3"],
                            "CLIPTextModelWithProjection", (config, "a test config"),
                            torch.float32)
    ids = torch.tensor([[0, 5, 9, 99]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).text_embeds, model(ids).text_embeds)
