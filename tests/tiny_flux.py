"""A tiny random-weight Flux model (CLIP + T5 text encoders, guidance embeds), built locally.

The T5 tokenizer is a Unigram vocabulary assembled in memory (no sentencepiece file): pad,
end and unknown pieces, the tiny word list with and without the word-start marker, single
characters and the 100 sentinel pieces T5 tokenizers carry.
"""

from __future__ import annotations

from pathlib import Path

from .tiny_models import WORDS, _clip_text_config, _save, clip_tokenizer

__all__ = ["build_flux", "t5_tokenizer"]

_MARK = "\u2581"  # sentencepiece's word-start marker


def t5_tokenizer():
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0),
                                       (_MARK, -2.0)]
    pieces += [(_MARK + word, -1.0) for word in WORDS]
    letters = sorted({letter for word in WORDS for letter in word}
                     | set("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'-"))
    pieces += [(letter, -5.0) for letter in letters]
    pieces += [(_MARK + letter, -5.5) for letter in letters]
    return T5Tokenizer(vocab=pieces, extra_ids=100)


def build_flux(folder: Path) -> Path:
    """A Flux shaped FluxPipeline folder (64 px native size, 16 latent channels)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer)).eval()
    tokenizer_2 = t5_tokenizer()
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer_2), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0)).eval()
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
        pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 6, 6))
    vae = AutoencoderKL(
        block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4, latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=64, use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=0.3611, shift_factor=0.1159)
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096)
    pipeline = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                            tokenizer=tokenizer, text_encoder_2=text_encoder_2,
                            tokenizer_2=tokenizer_2, transformer=transformer)
    return _save(pipeline, folder)
