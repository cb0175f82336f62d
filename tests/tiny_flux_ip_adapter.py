"""Tiny Flux IP adapters for the tiny Flux model of tests/tiny_flux.py, built locally.

A Flux IP adapter (the XLabs "flux-ip-adapter" kind) has two parts:

* ``image_proj``: the basic adapter's projection, ``proj`` mapping the image embedding to
  4 tokens of the transformer's joint attention width and ``norm`` normalizing them;
* ``ip_adapter``: for the n-th double-stream block of the transformer, ``n.to_k_ip`` and
  ``n.to_v_ip`` (weights and biases): joint attention width in, the block's inner width
  out. The single-stream blocks take no image tokens.

:func:`save_flux_ip_adapter` writes them in the layout of the released XLabs file
(``ip_adapter_proj_model.*`` and ``double_blocks.<n>.processor.ip_adapter_double_stream_
<k|v>_proj.*``), or as diffusers' ``image_proj.`` / ``ip_adapter.`` prefixed keys, or as a
torch pickle of the nested dict. The image encoder is tests/tiny_ip_adapter.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

from .tiny_ip_adapter import EMBEDDING, _readable, build_image_encoder, save_ip_adapter

__all__ = ["build_flux_controlnet", "build_flux_ip_adapter", "build_image_encoder",
           "flux_ip_adapter_state", "save_flux_ip_adapter", "xlabs_keys"]

#: the image tokens of the basic adapter
TOKENS = 4


def _transformer_sizes(model: Path) -> tuple[int, int, int]:
    """(double-stream blocks, inner width, joint attention width) of ``model``'s
    transformer."""
    config = json.loads((model / "transformer" / "config.json").read_text())
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    return config["num_layers"], inner, config["joint_attention_dim"]


def flux_ip_adapter_state(model: Path, *, seed: int = 0, embedding: int = EMBEDDING,
                          std: float = 0.5) -> dict[str, dict]:
    """``{"image_proj": {...}, "ip_adapter": {...}}`` (diffusers' names) for ``model``."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    blocks, inner, joint = _transformer_sizes(model)
    image_proj = {"proj.weight": random(joint * TOKENS, embedding),
                  "proj.bias": random(joint * TOKENS),
                  "norm.weight": torch.ones(joint), "norm.bias": torch.zeros(joint)}
    ip_adapter = {}
    for block in range(blocks):
        for part in ("to_k_ip", "to_v_ip"):
            ip_adapter[f"{block}.{part}.weight"] = random(inner, joint)
            ip_adapter[f"{block}.{part}.bias"] = random(inner)
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def xlabs_keys(state: dict[str, dict]) -> dict:
    """``state`` flattened with the key names of the XLabs release."""
    flat = {f"ip_adapter_proj_model.{key}": value
            for key, value in state["image_proj"].items()}
    for key, value in state["ip_adapter"].items():
        block, part, kind = key.split(".")
        which = "k" if part == "to_k_ip" else "v"
        flat[f"double_blocks.{block}.processor.ip_adapter_double_stream_{which}_proj.{kind}"] = (
            value)
    return flat


def save_flux_ip_adapter(state: dict[str, dict], path: Path, *, layout: str = "xlabs") -> Path:
    """Write ``state``: ``layout`` ``xlabs`` (a .safetensors file with the XLabs names) or
    ``diffusers`` (by the suffix of ``path``, as tests/tiny_ip_adapter.py writes)."""
    if layout == "diffusers":
        return save_ip_adapter(state, path)
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in xlabs_keys(state).items()}, str(path))
    return _readable(path)


def build_flux_ip_adapter(model: Path, path: Path, *, seed: int = 0, std: float = 0.5,
                          layout: str = "xlabs") -> Path:
    """:func:`flux_ip_adapter_state` for ``model`` saved at ``path``."""
    return save_flux_ip_adapter(flux_ip_adapter_state(model, seed=seed, std=std), path,
                                layout=layout)


def build_flux_controlnet(folder: Path, *, seed: int = 0) -> Path:
    """A random FluxControlNetModel fitting tests/tiny_flux.py's transformer (one
    double-stream block), saved into ``folder``: for the IP adapter and textual inversion
    tests combined with ControlNets."""
    import torch
    from diffusers import FluxControlNetModel

    torch.manual_seed(seed)
    model = FluxControlNetModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=0,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
        pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 6, 6))
    with torch.no_grad():
        for parameter in model.parameters():  # the zero-initialized outputs too
            parameter.normal_(0, 0.1)
    model.save_pretrained(folder)
    return _readable(folder)
