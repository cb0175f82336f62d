"""Tiny random-weight models, built locally (no downloads), for tests.

Built once per test session by the fixtures in conftest.py. The CLIP tokenizer
is assembled in memory: transformers 5 ignores tokenizer files passed to the
constructor, so the vocabulary and merges are given as objects.
"""

from __future__ import annotations

import os
from pathlib import Path

WORDS = ["a", "red", "green", "blue", "circle", "square", "cat", "dog", "on", "the", "left",
         "right", "photo", "of", "background", "small", "large"]


def _bytes_to_unicode() -> dict[int, str]:
    # the byte -> printable character table of GPT-2 style byte-level BPE
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters), strict=True))


def clip_tokenizer():
    from transformers import CLIPTokenizer

    alphabet = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in alphabet + [symbol + "</w>" for symbol in alphabet]:
        vocab.setdefault(symbol, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            merged = pair[0] + pair[1]
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(merged, len(vocab))
            pieces = [merged, *pieces[2:]]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_sd(folder: Path, *, inpaint: bool = False, prediction_type: str = "epsilon",
             unet_channels: tuple[int, int] = (16, 32), vae_channels: int = 8) -> Path:
    """A Stable Diffusion 1.x shaped pipeline (64 px native) saved with save_pretrained.

    The defaults make a ~1 MB model; benchmarks pass larger channel counts.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, projection_dim=32, max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=9 if inpaint else 4, out_channels=4,
        block_out_channels=unet_channels, layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(
        block_out_channels=(vae_channels,) * 4, layers_per_block=1, norm_num_groups=4,
        latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        prediction_type=prediction_type)
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipeline.save_pretrained(folder)
    # safetensors writes 0600 files; keep the fixture readable like any other folder
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return folder
