"""Tiny SD3 and Flux ControlNets for tests/test_controlnet_transformers.py, random weights.

Each is made from the transformer config of a tiny model folder (tests/tiny_sd3.py,
tests/tiny_flux.py), so it fits that model: one joint block (and one single block for
Flux). diffusers zero-initializes the layers handing the guidance to the transformer;
small noise is added to every weight so the guidance shows in the pictures. A Flux union
ControlNet is the same class with control modes (``num_mode``).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from .tiny_controlnet import _randomize, _readable

__all__ = ["FLUX_MODES", "build_flux_controlnet", "build_sd3_controlnet",
           "build_transformer_controlnet_file", "build_xlabs_file"]

#: control modes of the tiny Flux union ControlNet (InstantX's has 7)
FLUX_MODES = 7


def _config(model: Path, cls) -> dict:
    config = json.loads((model / "transformer" / "config.json").read_text())
    accepted = set(inspect.signature(cls.__init__).parameters)
    return {key: value for key, value in config.items()
            if key in accepted and not key.startswith("_")}


def build_sd3_controlnet(model: Path, folder: Path, *, seed: int = 41) -> Path:
    """An SD3ControlNetModel (one block) for the tiny SD3 folder ``model``."""
    import torch
    from diffusers import SD3ControlNetModel

    torch.manual_seed(seed)
    config = {**_config(model, SD3ControlNetModel), "num_layers": 1,
              "extra_conditioning_channels": 0}
    net = _randomize(SD3ControlNetModel(**config), seed)
    net.save_pretrained(folder)
    return _readable(folder)


def build_flux_controlnet(model: Path, folder: Path, *, seed: int = 51,
                          union: bool = False, hint: bool = False, single: int = 1) -> Path:
    """A FluxControlNetModel (one joint and one single block) for the tiny Flux folder
    ``model``; ``union``: with FLUX_MODES control modes; ``hint``: with its own control
    image embedding (XLabs style: it takes the control image's pixels, not its latents);
    ``single``: its number of single blocks (XLabs ControlNets have none)."""
    import torch
    from diffusers import FluxControlNetModel

    torch.manual_seed(seed)
    config = {**_config(model, FluxControlNetModel), "num_layers": 1,
              "num_single_layers": single,
              "num_mode": FLUX_MODES if union else None,
              "conditioning_embedding_channels": 16 if hint else None}
    if hint:  # the embedding's 16 channels at 1/8 size, packed 2x2 like the latents
        config["patch_size"] = 2
    net = _randomize(FluxControlNetModel(**config), seed)
    net.save_pretrained(folder)
    return _readable(folder)


def build_transformer_controlnet_file(folder: Path, path: Path) -> Path:
    """The SD3 or Flux ControlNet of ``folder`` as one .safetensors file (diffusers keys)."""
    import diffusers
    from safetensors.torch import save_file

    name = json.loads((folder / "config.json").read_text())["_class_name"]
    net = getattr(diffusers, name).from_pretrained(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in net.state_dict().items()}, str(path))
    return _readable(path)


#: diffusers names -> XLabs (Black Forest Labs) names, written out independently of the
#: plugin's renaming
_XLABS_MODULES = {
    "x_embedder": "img_in", "context_embedder": "txt_in",
    "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
    "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
    "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
    "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
    "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
    "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
    "controlnet_x_embedder": "pos_embed_input",
    "norm1.linear": "img_mod.lin", "norm1_context.linear": "txt_mod.lin",
    "attn.to_out.0": "img_attn.proj", "attn.to_add_out": "txt_attn.proj",
    "ff.net.0.proj": "img_mlp.0", "ff.net.2": "img_mlp.2",
    "ff_context.net.0.proj": "txt_mlp.0", "ff_context.net.2": "txt_mlp.2",
}
_XLABS_NORMS = {"attn.norm_q": "img_attn.norm.query_norm", "attn.norm_k": "img_attn.norm.key_norm",
                "attn.norm_added_q": "txt_attn.norm.query_norm",
                "attn.norm_added_k": "txt_attn.norm.key_norm"}


def build_xlabs_file(folder: Path, path: Path) -> Path:
    """The Flux ControlNet of ``folder`` (joint blocks only, with its own control image
    embedding) as one .safetensors file in the XLabs key layout: fused qkv weights,
    ``double_blocks.N``, ``input_hint_block.N`` numbered like a Sequential with activations
    between the convolutions."""
    import torch
    from diffusers import FluxControlNetModel
    from safetensors.torch import save_file

    net = FluxControlNetModel.from_pretrained(folder)
    assert net.config.num_single_layers == 0 and net.input_hint_block is not None
    state = net.state_dict()
    out = {}
    hint_blocks = len(net.input_hint_block.blocks)
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        parts = key.split(".")
        if parts[0] == "transformer_blocks":
            prefix, inner = f"double_blocks.{parts[1]}.", ".".join(parts[2:-1])
            if inner in ("attn.to_k", "attn.to_v", "attn.add_k_proj", "attn.add_v_proj"):
                continue  # fused with the query below
            if inner in ("attn.to_q", "attn.add_q_proj"):
                names = (("to_q", "to_k", "to_v") if inner == "attn.to_q"
                         else ("add_q_proj", "add_k_proj", "add_v_proj"))
                fused = "img_attn.qkv" if inner == "attn.to_q" else "txt_attn.qkv"
                out[f"{prefix}{fused}.{leaf}"] = torch.cat(
                    [state[f"transformer_blocks.{parts[1]}.attn.{name}.{leaf}"]
                     for name in names])
            elif inner in _XLABS_NORMS:
                out[f"{prefix}{_XLABS_NORMS[inner]}.scale"] = value
            else:
                out[f"{prefix}{_XLABS_MODULES[inner]}.{leaf}"] = value
        elif parts[0] == "input_hint_block":
            if parts[1] == "conv_in":
                index = 0
            elif parts[1] == "conv_out":
                index = 2 * (hint_blocks + 1)
            else:
                index = 2 * (int(parts[2]) + 1)
            out[f"input_hint_block.{index}.{leaf}"] = value
        else:
            out[f"{_XLABS_MODULES.get(module, module)}.{leaf}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in out.items()}, str(path))
    return _readable(path)
