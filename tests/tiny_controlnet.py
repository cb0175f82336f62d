"""Tiny ControlNets for tests/test_controlnet.py, built locally from random weights.

A ControlNet is made from the UNet of a tiny model folder (tests/tiny_models.py), so it fits
that model. diffusers zero-initializes the convolutions that hand a ControlNet's guidance to
the UNet (a fresh ControlNet changes nothing); here small random noise is added to every
weight, so the guidance shows in the pictures.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the control-image embedding of the tiny ControlNets: four levels, 8 px per latent like the
#: tiny VAEs
COND_CHANNELS = (4, 8, 8, 16)


def _readable(path: Path) -> Path:
    for root, _, files in os.walk(path) if path.is_dir() else [(path.parent, [], [path.name])]:
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)  # safetensors writes 0600 files
    return path


def _randomize(model, seed: int, std: float = 0.1):
    """Noise added to every weight: the zero-initialized ones become small random ones."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * std)
    return model.eval()


def controlnet_for(model: Path, *, seed: int = 21):
    """A ``ControlNetModel`` shaped after the UNet of the tiny model folder ``model``."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(model / "unet")
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=COND_CHANNELS)
    return _randomize(controlnet, seed)


def union_controlnet_for(model: Path, *, seed: int = 31):
    """A ``ControlNetUnionModel`` (6 control modes) shaped after the UNet of the tiny SDXL
    folder ``model``."""
    import inspect

    from diffusers import ControlNetModel, ControlNetUnionModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(model / "unet")
    plain = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=COND_CHANNELS,
                                      load_weights_from_unet=False)
    accepted = set(inspect.signature(ControlNetUnionModel.__init__).parameters)
    config = {key: value for key, value in plain.config.items()
              if key in accepted and not key.startswith("_")}
    width = unet.config.block_out_channels[0]
    union = ControlNetUnionModel(**config, num_control_type=6, num_trans_channel=width,
                                 num_trans_head=2, num_proj_channel=width)
    return _randomize(union, seed)


def build_controlnet_folder(model: Path, folder: Path, *, seed: int = 21,
                            union: bool = False) -> Path:
    """A ControlNet (or union ControlNet) for ``model`` saved with save_pretrained."""
    net = union_controlnet_for(model, seed=seed) if union else controlnet_for(model, seed=seed)
    net.save_pretrained(folder)
    return _readable(folder)


def build_controlnet_file(folder: Path, path: Path, *, layout: str = "diffusers") -> Path:
    """The ControlNet of ``folder`` as one file: ``layout`` ``diffusers`` (its own key names)
    or ``ldm`` (the original ControlNet layout, under ``control_model.``). ``.safetensors``,
    else a torch.save pickle."""
    import torch
    from diffusers import ControlNetModel
    from safetensors.torch import save_file

    net = ControlNetModel.from_pretrained(folder)
    state = net.state_dict()
    if layout == "ldm":
        state = _to_ldm(state, net.config)
    state = {key: value.contiguous() for key, value in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return _readable(path)


def _to_ldm(state, config) -> dict:
    from .source_fixtures import unet_to_ldm

    unet_part, out = {}, {}
    hint_last = 2 * len(config["conditioning_embedding_out_channels"]) + 6
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        parts = key.split(".")
        if parts[0] == "controlnet_down_blocks":
            out[f"zero_convs.{parts[1]}.0.{leaf}"] = value
        elif module == "controlnet_mid_block":
            out[f"middle_block_out.0.{leaf}"] = value
        elif module == "controlnet_cond_embedding.conv_in":
            out[f"input_hint_block.0.{leaf}"] = value
        elif module == "controlnet_cond_embedding.conv_out":
            out[f"input_hint_block.{hint_last}.{leaf}"] = value
        elif parts[:2] == ["controlnet_cond_embedding", "blocks"]:
            out[f"input_hint_block.{2 * (int(parts[2]) + 1)}.{leaf}"] = value
        elif parts[0] == "add_embedding":  # SDXL's added conditioning is LDM's label_emb
            out[f"label_emb.0.{0 if parts[1] == 'linear_1' else 2}.{leaf}"] = value
        else:
            unet_part[key] = value
    out.update(unet_to_ldm(unet_part, config))
    return {"control_model." + key: value for key, value in out.items()}
