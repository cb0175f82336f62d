"""Tiny IP adapters and image encoders for tests/test_ip_adapter.py, built locally.

* :func:`build_image_encoder` saves a random ``CLIPVisionModelWithProjection`` (32 px
  images, 8 px patches, 32 wide) with ``save_pretrained``.
* :func:`ip_adapter_state` makes the two parts an IP adapter file holds, shaped for the
  UNet of a tiny model folder: ``image_proj`` (the basic adapter's projection: ``proj``
  maps the image embedding to 4 tokens of the cross attention width, ``norm`` normalizes
  them) and ``ip_adapter`` (for the n-th cross-attention layer of the UNet, in the order
  diffusers lists its attention processors, the keys ``<2n+1>.to_k_ip.weight`` and
  ``<2n+1>.to_v_ip.weight``: cross attention width in, the layer's width out).
* :func:`save_ip_adapter` writes it as ``.bin`` (a ``torch.save`` of the nested dict) or
  ``.safetensors`` (flat keys prefixed ``image_proj.`` / ``ip_adapter.``).

Everything is random weights, large enough to change a tiny model's picture.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the width of the tiny image encoder's image embedding
EMBEDDING = 32


def _readable(path: Path) -> Path:
    for root, _, files in os.walk(path) if path.is_dir() else [(path.parent, [], [path.name])]:
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)  # safetensors writes 0600 files
    return path


def build_image_encoder(folder: Path, *, seed: int = 0, projection_dim: int = EMBEDDING,
                        variant: str | None = None) -> Path:
    """A random CLIP vision model with a projection (32 px input) saved into ``folder``
    (``model.<variant>.safetensors`` with a ``variant``)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, image_size=32, patch_size=8,
                              projection_dim=projection_dim)
    CLIPVisionModelWithProjection(config).eval().save_pretrained(folder, variant=variant)
    return _readable(folder)


def _cross_attention_layers(model: Path) -> list[tuple[int, int]]:
    """(input, output) widths of the key projection of every cross-attention layer of the
    UNet of the model folder ``model``, in diffusers' attention processor order."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(model / "unet"))
    layers = []
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            attention = unet.get_submodule(name[:-len(".processor")])
            layers.append((attention.to_k.in_features, attention.to_k.out_features))
    return layers


def ip_adapter_state(model: Path, *, seed: int = 0, embedding: int = EMBEDDING,
                     std: float = 0.5) -> dict[str, dict]:
    """``{"image_proj": {...}, "ip_adapter": {...}}`` for the UNet of ``model``."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    layers = _cross_attention_layers(model)
    width = layers[0][0]  # the cross attention width: what the text encoder feeds the UNet
    tokens = 4
    image_proj = {"proj.weight": random(width * tokens, embedding),
                  "proj.bias": random(width * tokens),
                  "norm.weight": torch.ones(width), "norm.bias": torch.zeros(width)}
    ip_adapter = {}
    for index, (inputs, outputs) in enumerate(layers):
        key = 2 * index + 1
        ip_adapter[f"{key}.to_k_ip.weight"] = random(outputs, inputs)
        ip_adapter[f"{key}.to_v_ip.weight"] = random(outputs, inputs)
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def save_ip_adapter(state: dict[str, dict], path: Path) -> Path:
    """Write ``state`` as diffusers' ``load_ip_adapter`` reads it, by the suffix of ``path``."""
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file({f"{part}.{key}": value.contiguous() for part, tensors in state.items()
                   for key, value in tensors.items()}, str(path))
    else:
        torch.save(state, path)
    return _readable(path)


def build_ip_adapter(model: Path, path: Path, *, seed: int = 0, std: float = 0.5) -> Path:
    """:func:`ip_adapter_state` for ``model`` saved at ``path`` (.bin or .safetensors)."""
    return save_ip_adapter(ip_adapter_state(model, seed=seed, std=std), path)
