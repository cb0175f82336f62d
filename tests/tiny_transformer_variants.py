"""Tiny random-weight variants of the SD3 and Flux transformers, built locally, for tests.

* SD3 InstructPix2Pix: the tiny SD3 model of tests/tiny_sd3.py with a transformer taking
  twice the latent channels (noise and input image side by side).
* Flux Fill: the tiny Flux model of tests/tiny_flux.py with a transformer taking the packed
  noise, masked-image and mask channels, saved as a FluxFillPipeline folder.
* Flux Kontext runs on the plain tiny Flux model (same transformer shape).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .tiny_flux import build_flux
from .tiny_sd3 import build_sd3

__all__ = ["build_flux_fill", "build_sd3_pix2pix", "flux_fill_channels"]


def _readable(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)  # safetensors writes 0600 files


def _replace_transformer(folder: Path, transformer) -> None:
    shutil.rmtree(folder / "transformer")
    transformer.save_pretrained(folder / "transformer")
    _readable(folder)


def build_sd3_pix2pix(folder: Path) -> Path:
    """The tiny SD3 folder (64 px native) with an InstructPix2Pix transformer: 32 input
    channels (16 of noise, 16 of the input image), 16 out."""
    import torch
    from diffusers import SD3Transformer2DModel

    build_sd3(folder)
    torch.manual_seed(1)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=32, out_channels=16, num_layers=2,
        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=64,
        caption_projection_dim=32, pooled_projection_dim=64, pos_embed_max_size=32)
    _replace_transformer(folder, transformer)
    return folder


def flux_fill_channels(latent_channels: int = 16, vae_scale_factor: int = 8) -> int:
    """Noise and masked-image latents packed 2x2, plus the mask folded to latent size
    (scale factor squared values per latent pixel), packed too."""
    return 4 * (2 * latent_channels + vae_scale_factor ** 2)


def build_flux_fill(folder: Path) -> Path:
    """The tiny Flux folder as a FluxFillPipeline with a Fill transformer (384 input
    channels, 64 out)."""
    import json

    import torch
    from diffusers import FluxTransformer2DModel

    build_flux(folder)
    torch.manual_seed(2)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=flux_fill_channels(), out_channels=64, num_layers=1,
        num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6))
    _replace_transformer(folder, transformer)
    index = folder / "model_index.json"
    config = json.loads(index.read_text())
    config["_class_name"] = "FluxFillPipeline"
    index.write_text(json.dumps(config, indent=2))
    return folder
