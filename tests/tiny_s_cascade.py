"""A tiny random-weight Stable Cascade (prior + decoder), built locally for tests.

The prior is a 2-level StableCascadeUNet over 16-channel image embeddings with a CLIP
text encoder with projection; the decoder a 2-level StableCascadeUNet over 4-channel
latents with its own CLIP text encoder and a tiny Paella VQ model. Output sizes follow
the real models' rounding: a side that is a multiple of 128 comes out exact (128 px is
a 3x3 prior latent, 32x32 decoder latents, x4 in the VQ model).
"""

from __future__ import annotations

from pathlib import Path

from .tiny_models import _clip_text_config, _save, clip_tokenizer


def _text_encoder(tokenizer):
    from transformers import CLIPTextModelWithProjection

    return CLIPTextModelWithProjection(_clip_text_config(tokenizer)).eval()


def cascade_unet(kind: str, *, seed: int | None = None):
    """A tiny StableCascadeUNet: ``kind`` is ``"prior"`` or ``"decoder"``."""
    import torch
    from diffusers import StableCascadeUNet

    if seed is not None:
        torch.manual_seed(seed)
    if kind == "prior":
        # the prior needs clip_image_in_channels even without image prompts (its image
        # mapper is always built)
        return StableCascadeUNet(
            in_channels=16, out_channels=16, conditioning_dim=32, block_out_channels=(32, 32),
            num_attention_heads=(2, 2), down_num_layers_per_block=(1, 1),
            up_num_layers_per_block=(1, 1), switch_level=(False,), clip_image_in_channels=32,
            clip_text_in_channels=32, clip_text_pooled_in_channels=32, dropout=(0.0, 0.0))
    return StableCascadeUNet(
        in_channels=4, out_channels=4, patch_size=2, conditioning_dim=32,
        block_out_channels=(16, 32), num_attention_heads=(0, 2),
        down_num_layers_per_block=(1, 1), up_num_layers_per_block=(1, 1),
        down_blocks_repeat_mappers=(1, 1), up_blocks_repeat_mappers=(2, 2),
        block_types_per_layer=(("SDCascadeResBlock", "SDCascadeTimestepBlock"),
                               ("SDCascadeResBlock", "SDCascadeTimestepBlock",
                                "SDCascadeAttnBlock")),
        clip_text_pooled_in_channels=32, effnet_in_channels=16, pixel_mapper_in_channels=3,
        timestep_conditioning_type=("sca",), dropout=(0.0, 0.0))


def build_prior(folder: Path) -> Path:
    """A Stable Cascade prior pipeline folder (no image encoder), ~0.7 MB."""
    import torch
    from diffusers import DDPMWuerstchenScheduler, StableCascadePriorPipeline

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    pipeline = StableCascadePriorPipeline(
        tokenizer=tokenizer, text_encoder=_text_encoder(tokenizer),
        prior=cascade_unet("prior"), scheduler=DDPMWuerstchenScheduler())
    return _save(pipeline, folder)


def build_decoder(folder: Path) -> Path:
    """A Stable Cascade decoder pipeline folder, ~0.6 MB. Its model_index.json names the
    Paella VQ model as diffusers saves it (``["diffusers", "PaellaVQModel"]``), which the
    installed diffusers cannot resolve by itself: the family must cope, as with real
    repositories."""
    import torch
    from diffusers import DDPMWuerstchenScheduler, StableCascadeDecoderPipeline
    from diffusers.pipelines.deprecated.wuerstchen.modeling_paella_vq_model import (
        PaellaVQModel,
    )

    torch.manual_seed(1)
    tokenizer = clip_tokenizer()
    vqgan = PaellaVQModel(levels=2, bottleneck_blocks=1, num_vq_embeddings=2,
                          latent_channels=4, embed_dim=16)
    pipeline = StableCascadeDecoderPipeline(
        decoder=cascade_unet("decoder"), tokenizer=tokenizer,
        text_encoder=_text_encoder(tokenizer), scheduler=DDPMWuerstchenScheduler(),
        vqgan=vqgan.eval())
    return _save(pipeline, folder)


def build_unet_folder(folder: Path, kind: str, *, seed: int) -> Path:
    """Another tiny ``kind`` UNet (``prior`` / ``decoder``) saved alone, for --unet and
    --second-model-unet."""
    import os

    cascade_unet(kind, seed=seed).save_pretrained(folder)
    for path in folder.iterdir():
        os.chmod(path, 0o644)
    return folder
