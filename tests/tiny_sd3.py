"""A tiny random-weight Stable Diffusion 3 model, built locally (no downloads), for tests.

Two CLIP text encoders with projection (their tokenizers from tests/tiny_models.py) and a
T5 encoder whose Unigram tokenizer is assembled in memory; a 2-layer SD3 transformer and a
16-channel VAE that keeps the x8 scale factor (64 px native size).
"""

from __future__ import annotations

from pathlib import Path

from .tiny_models import WORDS, _clip_text_config, _clip_tokenizer_2, _save, clip_tokenizer


def t5_tokenizer():
    """A T5 tokenizer over a small Unigram vocabulary: <pad> 0, </s> 1, <unk> 2, the words
    of WORDS with and without the word-start mark, single characters, 100 extra ids."""
    from transformers import T5Tokenizer

    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0),
                                      ("\u2581", -2.0)]
    for word in WORDS:
        vocab.append(("\u2581" + word, -1.0))
    for character in "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'-":
        vocab.append((character, -5.0))
        vocab.append(("\u2581" + character, -5.5))
    vocab += [(f"<extra_id_{number}>", 0.0) for number in range(99, -1, -1)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def sd3_vae(*, seed: int | None = None):
    """An SD3 shaped AutoencoderKL: 16 latent channels, x8, scaling and shift factors."""
    import torch
    from diffusers import AutoencoderKL

    if seed is not None:
        torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4, latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=64, use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=1.5305, shift_factor=0.0609)


def build_sd3(folder: Path) -> Path:
    """A Stable Diffusion 3 shaped pipeline (64 px native), ~1.5 MB."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection, T5Config, T5EncoderModel

    torch.manual_seed(0)
    tokenizer, tokenizer_2, tokenizer_3 = clip_tokenizer(), _clip_tokenizer_2(), t5_tokenizer()
    text_encoder = CLIPTextModelWithProjection(_clip_text_config(tokenizer))
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config(tokenizer_2))
    text_encoder_3 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer_3), d_model=64, d_kv=8, d_ff=128, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    # joint attention takes the T5 width (the two CLIP hidden states, 32 + 32, are padded to
    # it); the pooled projection is both CLIP projections side by side (32 + 32)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=64,
        caption_projection_dim=32, pooled_projection_dim=64, pos_embed_max_size=32)
    vae = sd3_vae()
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2, text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3)
    return _save(pipeline, folder)


def build_sd3_lora(model: Path, folder: Path, *, seed: int = 0, rank: int = 4,
                   std: float = 0.3) -> Path:
    """A diffusers/PEFT-format LoRA for the tiny SD3 folder ``model`` (the transformer's
    attention projections and the first CLIP encoder's), random weights, saved with
    StableDiffusion3Pipeline.save_lora_weights into ``folder``. Returns the file."""
    import os

    import torch
    from diffusers import StableDiffusion3Pipeline

    from .tiny_submodels import _lora_pairs, _lora_targets

    generator = torch.Generator().manual_seed(seed)
    patterns = {"transformer": r"attn\.(to_q|to_k|to_v|to_out\.0)\.weight$",
                "text_encoder": r"self_attn\.(q_proj|k_proj|v_proj|out_proj)\.weight$"}
    layers = {}
    for component, pattern in patterns.items():
        targets = _lora_targets(model, component, pattern)
        layers[component] = {
            f"{module}.{part}.weight": tensor
            for module, down, up in _lora_pairs(targets, generator, rank, std)
            for part, tensor in (("lora_A", down), ("lora_B", up))}
    folder.mkdir(parents=True, exist_ok=True)
    name = "pytorch_lora_weights.safetensors"
    StableDiffusion3Pipeline.save_lora_weights(
        folder, weight_name=name,
        **{f"{component}_lora_layers": tensors for component, tensors in layers.items()})
    os.chmod(folder / name, 0o644)
    return folder / name
