"""Tiny random-weight models, built locally (no downloads), for tests.

Built once per test session by the fixtures in conftest.py. The CLIP tokenizer
is assembled in memory: transformers 5 ignores tokenizer files passed to the
constructor, so the vocabulary and merges are given as objects. Kolors' ChatGLM
tokenizer needs a sentencepiece model file: one is trained here, in a few
milliseconds, and written into the model folder.
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


# --- shared pieces of the builders below -------------------------------------------------------

def _save(pipeline, folder: Path) -> Path:
    pipeline.save_pretrained(folder)
    # safetensors writes 0600 files; keep the fixture readable like any other folder
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return folder


def _clip_text_config(tokenizer, *, projection_dim: int = 32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, projection_dim=projection_dim, max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)


def _clip_tokenizer_2():
    # SDXL's second tokenizer pads with "!", as the real repositories do
    tokenizer = clip_tokenizer()
    tokenizer.pad_token = "!"
    return tokenizer


def _vae(*, levels: int = 4, scaling_factor: float = 0.18215, seed: int | None = None):
    """A ~50k parameter AutoencoderKL with 4 latent channels; `levels` - 1 halvings."""
    import torch
    from diffusers import AutoencoderKL

    if seed is not None:
        torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8,) * levels, layers_per_block=1, norm_num_groups=4,
        latent_channels=4, down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels, sample_size=64,
        scaling_factor=scaling_factor)


def _sdxl_vae():
    # seeded on its own so that SDXL, its refiner and SDXL pix2pix share one latent space
    return _vae(scaling_factor=0.13025, seed=1)


def _sdxl_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading")


def _sdxl_unet(*, in_channels: int = 4, cross_attention_dim: int = 64, time_ids: int = 6,
               pooled_dim: int = 32, **extra):
    """An SDXL shaped UNet (text_time added conditioning), sample size 8 (64 px)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, block_out_channels=(16, 32),
        layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 2), use_linear_projection=True, norm_num_groups=8,
        cross_attention_dim=cross_attention_dim, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=time_ids * 8 + pooled_dim,
        **extra)


def _sdxl_components(*, in_channels: int = 4) -> dict:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer, tokenizer_2 = clip_tokenizer(), _clip_tokenizer_2()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config(tokenizer_2))
    # cross attention sees both encoders' penultimate hidden states side by side (32 + 32)
    unet = _sdxl_unet(in_channels=in_channels)
    return dict(vae=_sdxl_vae(), text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet,
                scheduler=_sdxl_scheduler())


# --- the builders -----------------------------------------------------------------------------

def build_sdxl(folder: Path) -> Path:
    """A Stable Diffusion XL shaped pipeline (64 px native), ~2 MB."""
    import torch
    from diffusers import StableDiffusionXLPipeline

    torch.manual_seed(0)
    pipeline = StableDiffusionXLPipeline(**_sdxl_components(), add_watermarker=False)
    return _save(pipeline, folder)


def build_sdxl_refiner(folder: Path) -> Path:
    """An SDXL refiner (64 px native): only the second text encoder, aesthetic score conditioning.

    Its VAE is the one of build_sdxl, so it refines build_sdxl latents.
    """
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer_2 = _clip_tokenizer_2()
    text_encoder_2 = CLIPTextModelWithProjection(_clip_text_config(tokenizer_2))
    # time ids: original size, crop coordinates and the aesthetic score (5 instead of 6)
    unet = _sdxl_unet(cross_attention_dim=32, time_ids=5)
    pipeline = StableDiffusionXLImg2ImgPipeline(
        vae=_sdxl_vae(), text_encoder=None, text_encoder_2=text_encoder_2, tokenizer=None,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=_sdxl_scheduler(),
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=False,
        add_watermarker=False)
    return _save(pipeline, folder)


def build_sdxl_pix2pix(folder: Path) -> Path:
    """An SDXL InstructPix2Pix pipeline (8 channel UNet input, 64 px native)."""
    import torch
    from diffusers import StableDiffusionXLInstructPix2PixPipeline

    torch.manual_seed(0)
    pipeline = StableDiffusionXLInstructPix2PixPipeline(
        **_sdxl_components(in_channels=8), add_watermarker=False)
    return _save(pipeline, folder)


def _sd_unet(**changes):
    """A Stable Diffusion 1.x shaped UNet (as in build_sd), with some settings changed."""
    from diffusers import UNet2DConditionModel

    config = dict(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=4, norm_num_groups=8)
    return UNet2DConditionModel(**{**config, **changes})


def build_pix2pix(folder: Path) -> Path:
    """A Stable Diffusion 1.x shaped InstructPix2Pix pipeline (8 channel UNet input, 64 px)."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    pipeline = StableDiffusionInstructPix2PixPipeline(
        vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer,
        unet=_sd_unet(in_channels=8), scheduler=scheduler, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    return _save(pipeline, folder)


def build_upscaler_x4(folder: Path) -> Path:
    """A Stable Diffusion x4 upscaler: 7 channel UNet input, a x4 VAE (16 px in, 64 px out)."""
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    # 4 noisy latent channels + the 3 channels of the low resolution image; the class
    # embedding carries the noise level
    unet = _sd_unet(
        in_channels=7, num_class_embeds=1000, sample_size=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))
    # the pipeline requires (and otherwise overrides) this scaling factor
    vae = _vae(levels=3, scaling_factor=0.08333)
    pipeline = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        low_res_scheduler=DDPMScheduler(beta_start=0.0001, beta_end=0.02,
                                        beta_schedule="scaled_linear"),
        scheduler=DDIMScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear",
                                prediction_type="v_prediction", clip_sample=False,
                                set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, watermarker=None, max_noise_level=350)
    return _save(pipeline, folder)


def build_upscaler_x2(folder: Path) -> Path:
    """A Stable Diffusion x2 latent upscaler (K-diffusion UNet); images must be >= 64 px."""
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionLatentUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    # the K blocks hard-code 32 channel groups, hence (32, 32, 64, 64); the timestep condition
    # is a 128 wide noise level embedding next to the pooled text embedding (32)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=8, out_channels=5, act_fn="gelu", attention_head_dim=8,
        norm_num_groups=None, block_out_channels=(32, 32, 64, 64), layers_per_block=1,
        time_cond_proj_dim=128 + 32, conv_in_kernel=1, conv_out_kernel=1,
        cross_attention_dim=32, mid_block_type=None, only_cross_attention=False,
        resnet_time_scale_shift="scale_shift", time_embedding_type="fourier",
        timestep_post_act="gelu",
        down_block_types=("KDownBlock2D",) + ("KCrossAttnDownBlock2D",) * 3,
        up_block_types=("KCrossAttnUpBlock2D",) * 3 + ("KUpBlock2D",))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="sample", steps_offset=1)
    pipeline = StableDiffusionLatentUpscalePipeline(
        vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=scheduler)
    return _save(pipeline, folder)


def _chatglm_tokenizer(directory: Path):
    """A ChatGLM tokenizer on a sentencepiece BPE model trained here from WORDS.

    The slow tokenizer needs its model as a file, for good: it is written to `directory`
    (where the pipeline's save_pretrained rewrites it unchanged).
    """
    import io
    import itertools
    import string

    import sentencepiece
    from diffusers.pipelines.kolors import ChatGLMTokenizer

    # every word of WORDS in varying company, and every printable ASCII character
    lines = [" ".join(itertools.islice(itertools.cycle(WORDS), start, start + 5))
             for start in range(len(WORDS) * 20)]
    lines += [" ".join(string.printable.strip())] * 20
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=160, model_type="bpe",
        hard_vocab_limit=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1,
        character_coverage=1.0, normalization_rule_name="identity", minloglevel=2)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenizer.model"
    path.write_bytes(model.getvalue())
    return ChatGLMTokenizer(vocab_file=str(path))


def build_kolors(folder: Path) -> Path:
    """A Kolors shaped pipeline (ChatGLM text encoder, SDXL UNet; 64 px native)."""
    import torch
    from diffusers import KolorsPipeline
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig, ChatGLMModel

    torch.manual_seed(0)
    tokenizer = _chatglm_tokenizer(Path(folder) / "tokenizer")
    text_encoder = ChatGLMModel(ChatGLMConfig(
        num_layers=2, padded_vocab_size=len(tokenizer) + 8, hidden_size=32, ffn_hidden_size=64,
        kv_channels=8, num_attention_heads=4, seq_length=256, multi_query_attention=True,
        multi_query_group_num=2, add_qkv_bias=True, original_rope=True))
    # ChatGLM's _init_weights does nothing, and the parameters start as torch.empty garbage
    with torch.no_grad():
        for name, parameter in text_encoder.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
            elif "norm" in name:
                parameter.fill_(1.0)
            else:
                parameter.normal_(0.0, 0.02)
    # like the real Kolors UNet, a text projection maps the ChatGLM hidden states (32) to the
    # cross attention width; the pooled embedding is ChatGLM's last token (32)
    unet = _sdxl_unet(cross_attention_dim=32, encoder_hid_dim=32, encoder_hid_dim_type="text_proj")
    pipeline = KolorsPipeline(
        vae=_sdxl_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=_sdxl_scheduler(), force_zeros_for_empty_prompt=False)
    return _save(pipeline, folder)
