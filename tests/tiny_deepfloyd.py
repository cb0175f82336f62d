"""Tiny random-weight DeepFloyd IF stages, built locally (no downloads), for tests.

Stage I is a pixel-space UNet (3 channels in, 6 out: the noise and the learned variance)
conditioned by a T5 encoder whose Unigram tokenizer is assembled in memory; 16 px native.
Stage II takes the noisy image beside the upscaled stage I image (6 channels in) and the
noise level as a class embedding; 64 px native, so it upscales 16 px stage I images 4x.
No safety checker, feature extractor or watermarker.
"""

from __future__ import annotations

from pathlib import Path

from .tiny_models import _save
from .tiny_sd3 import t5_tokenizer

#: the T5 width, which the UNets read the prompt embeddings at
_T5_WIDTH = 32


def _t5(tokenizer):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=_T5_WIDTH, d_kv=8, d_ff=2 * _T5_WIDTH, num_layers=2,
        num_heads=4, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))


def _scheduler():
    from diffusers import DDPMScheduler

    # as the released stages: learned variance, dynamic thresholding of the predicted image
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         variance_type="learned_range", thresholding=True,
                         dynamic_thresholding_ratio=0.95, sample_max_value=1.0,
                         clip_sample=True, clip_sample_range=1.0)


def _unet(*, in_channels: int, sample_size: int, stage_two: bool):
    from diffusers import UNet2DConditionModel

    extra = {"class_embed_type": "timestep", "time_embedding_dim": 32} if stage_two else {}
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=6,
        block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
        encoder_hid_dim=_T5_WIDTH, addition_embed_type="text",
        addition_embed_type_num_heads=2, cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift", act_fn="gelu", **extra)


def build_if_stage_one(folder: Path) -> Path:
    """A DeepFloyd IF stage I shaped pipeline (16 px native), under 1.5 MB."""
    import torch
    from diffusers import IFPipeline

    torch.manual_seed(0)
    tokenizer = t5_tokenizer()
    pipeline = IFPipeline(
        tokenizer=tokenizer, text_encoder=_t5(tokenizer),
        unet=_unet(in_channels=3, sample_size=16, stage_two=False), scheduler=_scheduler(),
        safety_checker=None, feature_extractor=None, watermarker=None,
        requires_safety_checker=False)
    return _save(pipeline, folder)


def build_if_stage_two(folder: Path) -> Path:
    """A DeepFloyd IF stage II shaped pipeline (64 px native), under 1.5 MB."""
    import torch
    from diffusers import DDPMScheduler, IFSuperResolutionPipeline

    torch.manual_seed(1)
    tokenizer = t5_tokenizer()
    pipeline = IFSuperResolutionPipeline(
        tokenizer=tokenizer, text_encoder=_t5(tokenizer),
        unet=_unet(in_channels=6, sample_size=64, stage_two=True), scheduler=_scheduler(),
        image_noising_scheduler=DDPMScheduler(num_train_timesteps=1000,
                                              beta_schedule="squaredcos_cap_v2"),
        safety_checker=None, feature_extractor=None, watermarker=None,
        requires_safety_checker=False)
    return _save(pipeline, folder)
