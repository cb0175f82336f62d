"""Tiny transformers for --transformer and single-file SD3 / Flux checkpoints, built locally.

diffusers reads the original layouts (Stability's ``joint_blocks`` for SD3, Black Forest
Labs' ``double_blocks`` for Flux) but writes neither, so :func:`sd3_to_original` is the
inverse of its SD3 conversion, checked by a round trip in the tests. Flux original-layout
files cannot be made tiny: diffusers' Flux conversion (0.42) splits the fused projections
of the single blocks at the full model's width (3072) whatever the file holds, so tiny
Flux files are written in the diffusers layout, which ``from_single_file`` takes as it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .source_fixtures import vae_to_ldm

__all__ = ["build_sd3_for_single_file", "build_sd3_single_file", "build_transformer_file",
           "build_transformer_folder", "sd3_to_original", "transformer_like"]

#: diffusers names -> original names that are a plain rename (per block: ``{i}``)
_SD3_RENAMES = {
    "pos_embed.proj": "x_embedder.proj",
    "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
    "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
    "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
    "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2",
    "context_embedder": "context_embedder",
    "proj_out": "final_layer.linear",
}
_SD3_BLOCK_RENAMES = {
    "attn.norm_q": "x_block.attn.ln_q", "attn.norm_k": "x_block.attn.ln_k",
    "attn.norm_added_q": "context_block.attn.ln_q",
    "attn.norm_added_k": "context_block.attn.ln_k",
    "attn.to_out.0": "x_block.attn.proj", "attn.to_add_out": "context_block.attn.proj",
    "attn2.norm_q": "x_block.attn2.ln_q", "attn2.norm_k": "x_block.attn2.ln_k",
    "attn2.to_out.0": "x_block.attn2.proj",
    "norm1.linear": "x_block.adaLN_modulation.1",
    "norm1_context.linear": "context_block.adaLN_modulation.1",
    "ff.net.0.proj": "x_block.mlp.fc1", "ff.net.2": "x_block.mlp.fc2",
    "ff_context.net.0.proj": "context_block.mlp.fc1", "ff_context.net.2": "context_block.mlp.fc2",
}
#: fused projections: original name -> the diffusers modules concatenated into it
_SD3_FUSED = {
    "x_block.attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "context_block.attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "x_block.attn2.qkv": ("attn2.to_q", "attn2.to_k", "attn2.to_v"),
}


def _swap_halves(value: Any) -> Any:
    """diffusers' AdaLayerNormContinuous puts scale before shift; the original, after."""
    import torch

    first, second = value.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def sd3_to_original(state: Mapping[str, Any]) -> dict[str, Any]:
    """An ``SD3Transformer2DModel`` state dict in Stability's original layout (without the
    ``model.diffusion_model.`` prefix)."""
    import torch

    blocks = sorted({int(key.split(".")[1]) for key in state
                     if key.startswith("transformer_blocks.")})
    last = blocks[-1]
    out: dict[str, Any] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if key == "pos_embed.pos_embed":  # a tensor, not a module's weight
            out["pos_embed"] = value
        elif module in _SD3_RENAMES:
            out[f"{_SD3_RENAMES[module]}.{leaf}"] = value
        elif module == "norm_out.linear":
            out[f"final_layer.adaLN_modulation.1.{leaf}"] = _swap_halves(value)
    for index in blocks:
        here = f"transformer_blocks.{index}."
        for module, name in _SD3_BLOCK_RENAMES.items():
            for leaf in ("weight", "bias"):
                value = state.get(f"{here}{module}.{leaf}")
                if value is None:
                    continue
                if module == "norm1_context.linear" and index == last:
                    value = _swap_halves(value)  # context_pre_only: a continuous norm
                out[f"joint_blocks.{index}.{name}.{leaf}"] = value
        for name, parts in _SD3_FUSED.items():
            for leaf in ("weight", "bias"):
                pieces = [state.get(f"{here}{part}.{leaf}") for part in parts]
                if all(piece is not None for piece in pieces):
                    out[f"joint_blocks.{index}.{name}.{leaf}"] = torch.cat(pieces, dim=0)
    return out


def _readable(path: Path) -> Path:
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.chmod(item, 0o755 if item.is_dir() else 0o644)  # safetensors writes 0600 files
    return path


def transformer_like(model: Path, *, seed: int):
    """A transformer of the class and configuration of ``model``'s, other random weights."""
    import diffusers
    import torch

    config = json.loads((model / "transformer" / "config.json").read_text())
    cls = getattr(diffusers, config["_class_name"])
    torch.manual_seed(seed)
    settings = {key: value for key, value in config.items() if not key.startswith("_")}
    return cls.from_config(settings).eval()


def build_transformer_folder(model: Path, folder: Path, *, seed: int = 21,
                             variant: str | None = None) -> Path:
    """A diffusers transformer folder that fits ``model``, with weights of its own."""
    transformer_like(model, seed=seed).save_pretrained(folder, variant=variant)
    return _readable(folder)


def build_transformer_file(folder: Path, path: Path, *, layout: str = "diffusers",
                           prefix: str = "") -> Path:
    """The transformer of ``folder`` as one ``.safetensors`` file: in the ``diffusers`` or
    the ``original`` (SD3 only) layout, its keys under ``prefix``."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "diffusion_pytorch_model.safetensors"))
    if layout == "original":
        state = sd3_to_original(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({prefix + key: value.contiguous() for key, value in state.items()}, str(path))
    return _readable(path)


def build_sd3_single_file(model: Path, path: Path, *, leave_out: tuple[str, ...] = ()) -> Path:
    """The SD3 folder ``model`` as one original-layout checkpoint, as Stability released
    SD3 medium with its text encoders: ``model.diffusion_model.`` (the transformer),
    ``first_stage_model.`` (the VAE, LDM layout) and ``text_encoders.clip_l`` /
    ``clip_g`` / ``t5xxl``, less the keys in ``leave_out``. (diffusers gives CLIP-L an
    identity text projection when it reads such a file: ``model``'s CLIP-L should have
    one for the two to match, see :func:`build_sd3_for_single_file`.)"""
    from safetensors.torch import load_file, save_file

    def weights(part: str) -> dict[str, Any]:
        (file,) = sorted((model / part).glob("*.safetensors"))
        return load_file(str(file))

    vae_config = json.loads((model / "vae" / "config.json").read_text())
    state: dict[str, Any] = {}
    state.update({"model.diffusion_model." + key: value
                  for key, value in sd3_to_original(weights("transformer")).items()})
    state.update({"first_stage_model." + key: value
                  for key, value in vae_to_ldm(weights("vae"), vae_config).items()})
    for part, name in (("text_encoder", "clip_l"), ("text_encoder_2", "clip_g")):
        # (transformers 5 saves CLIP's text model keys without the text_model. level the
        # original files have; the projection stays beside it)
        for key, value in weights(part).items():
            rest = key if key.startswith("text_projection.") else (
                "text_model." + key.removeprefix("text_model."))
            state[f"text_encoders.{name}.transformer.{rest}"] = value
    t5 = weights("text_encoder_3")
    # transformers saves the tied input embedding once (shared); the released files hold
    # both names, and diffusers loads each by its own name
    t5.setdefault("encoder.embed_tokens.weight", t5["shared.weight"].clone())
    state.update({"text_encoders.t5xxl.transformer." + key: value for key, value in t5.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in state.items()
               if key not in leave_out}, str(path))
    return _readable(path)


def build_sd3_for_single_file(folder: Path) -> Path:
    """A tiny SD3 folder whose parts diffusers tells apart in one original-layout file.

    diffusers recognizes the CLIP encoders of an SD3 file by their widths (768 for CLIP-L,
    1280 for CLIP-G in the released models), and gives CLIP-L an identity text projection
    (the released files hold none). So CLIP-L here is 32 wide with an identity
    projection, CLIP-G 48 wide, and T5 (whose width the CLIP states are padded to) 96."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection, T5Config, T5EncoderModel

    from .tiny_models import _clip_text_config, _clip_tokenizer_2, _save, clip_tokenizer
    from .tiny_sd3 import sd3_vae, t5_tokenizer

    torch.manual_seed(3)
    tokenizer, tokenizer_2, tokenizer_3 = clip_tokenizer(), _clip_tokenizer_2(), t5_tokenizer()
    text_encoder = CLIPTextModelWithProjection(_clip_text_config(tokenizer))
    with torch.no_grad():
        text_encoder.text_projection.weight.copy_(torch.eye(32))
    config_2 = _clip_text_config(tokenizer_2)
    config_2.hidden_size, config_2.intermediate_size = 48, 96
    text_encoder_2 = CLIPTextModelWithProjection(config_2)
    text_encoder_3 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer_3), d_model=96, d_kv=8, d_ff=128, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=96,
        caption_projection_dim=32, pooled_projection_dim=64, pos_embed_max_size=32)
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=sd3_vae(seed=4), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
        text_encoder_2=text_encoder_2.eval(), tokenizer_2=tokenizer_2,
        text_encoder_3=text_encoder_3.eval(), tokenizer_3=tokenizer_3)
    return _save(pipeline, folder)
