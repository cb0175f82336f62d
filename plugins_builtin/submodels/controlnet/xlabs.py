"""Flux ControlNet files in the XLabs layout (``double_blocks.N.img_attn.qkv`` ...): the key
names of Black Forest Labs' Flux code, which the XLabs-AI ControlNets are published in,
renamed to diffusers' ``FluxControlNetModel`` ones.

Their control image goes through their own embedding (``input_hint_block``), and they have
joint blocks only (no single blocks). Fused query/key/value weights are split in three.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["is_xlabs", "xlabs_to_diffusers"]

#: whole-module renames: XLabs prefix -> diffusers prefix
_MODULES = {
    "img_in": "x_embedder",
    "txt_in": "context_embedder",
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "pos_embed_input": "controlnet_x_embedder",
}

#: inside a joint block: XLabs part -> diffusers part
_BLOCK_PARTS = {
    "img_mod.lin": "norm1.linear",
    "txt_mod.lin": "norm1_context.linear",
    "img_attn.proj": "attn.to_out.0",
    "txt_attn.proj": "attn.to_add_out",
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
    "img_mlp.0": "ff.net.0.proj",
    "img_mlp.2": "ff.net.2",
    "txt_mlp.0": "ff_context.net.0.proj",
    "txt_mlp.2": "ff_context.net.2",
}

#: fused attention inputs, split into three
_FUSED = {"img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
          "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")}

_BLOCK = re.compile(r"double_blocks\.(\d+)\.(.+)\.(weight|bias|scale)$")
_HINT = re.compile(r"input_hint_block\.(\d+)\.(weight|bias)$")


def is_xlabs(state: Mapping[str, Any]) -> bool:
    """Whether the weights use the XLabs (Black Forest Labs) key names."""
    return any(key.startswith("double_blocks.") for key in state) and not any(
        key.startswith("transformer_blocks.") for key in state)


def _hint_name(index: int, last: int) -> str:
    """The convolution at ``index`` of the XLabs embedding (convolutions at even indices,
    activations between): conv_in, then blocks 0 ..., then conv_out."""
    if index == 0:
        return "conv_in"
    if index == last:
        return "conv_out"
    return f"blocks.{index // 2 - 1}"


def xlabs_to_diffusers(state: Mapping[str, Any]) -> dict[str, Any]:
    """The weights under diffusers' names; a key of no known place keeps its name (the
    configuration check then reports it)."""
    hints = [int(found.group(1)) for key in state if (found := _HINT.match(key))]
    last = max(hints, default=0)
    converted: dict[str, Any] = {}
    for key, value in state.items():
        block = _BLOCK.match(key)
        hint = _HINT.match(key)
        if block is not None:
            number, part, leaf = block.groups()
            prefix = f"transformer_blocks.{number}."
            if part in _FUSED:
                for name, piece in zip(_FUSED[part], value.chunk(3, dim=0), strict=True):
                    converted[f"{prefix}{name}.{leaf}"] = piece.contiguous()
            elif f"{part}.{leaf}" in _BLOCK_PARTS:
                converted[prefix + _BLOCK_PARTS[f"{part}.{leaf}"]] = value
            elif part in _BLOCK_PARTS:
                converted[f"{prefix}{_BLOCK_PARTS[part]}.{leaf}"] = value
            else:
                converted[key] = value
        elif hint is not None:
            index, leaf = hint.groups()
            converted[f"input_hint_block.{_hint_name(int(index), last)}.{leaf}"] = value
        else:
            module, _, leaf = key.rpartition(".")
            converted[f"{_MODULES.get(module, module)}.{leaf}"] = value
    return converted
