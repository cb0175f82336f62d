"""The tiny model fixtures load with their diffusers pipeline classes and generate, offline.

Each family is loaded back from its saved folder and run for 2 steps on the CPU in every
mode it supports; the assertions are about what the application relies on: the pipeline
class a folder resolves to, and the size of what comes out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
Image = pytest.importorskip("PIL.Image")

PROMPT = "a red circle on the left"


def load(pipeline_class: type, folder: Path):
    """Load `folder` both generically and with `pipeline_class`; return the latter."""
    generic = diffusers.DiffusionPipeline.from_pretrained(folder)
    assert type(generic) is pipeline_class
    pipeline = pipeline_class.from_pretrained(folder)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def picture(width: int = 64, height: int = 64) -> Image.Image:
    """A deterministic test picture: a colour gradient."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1))


def mask(width: int = 64, height: int = 64) -> Image.Image:
    image = Image.new("L", (width, height), 0)
    image.paste(255, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    return image


def seed() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def single(output) -> Image.Image:
    (image,) = output.images
    assert isinstance(image, Image.Image)
    return image


def test_sdxl_txt2img_img2img_inpaint(tiny_sdxl: Path) -> None:
    from diffusers import (
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
    )

    pipeline = load(StableDiffusionXLPipeline, tiny_sdxl)
    assert pipeline.default_sample_size * pipeline.vae_scale_factor == 64
    image = single(pipeline(PROMPT, num_inference_steps=2, generator=seed()))
    assert image.size == (64, 64)
    image = single(pipeline(PROMPT, width=96, height=64, num_inference_steps=2,
                            generator=seed()))
    assert image.size == (96, 64)

    img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(pipeline)
    assert img2img.unet is pipeline.unet
    image = single(img2img(PROMPT, image=picture(), strength=0.5, num_inference_steps=4,
                           generator=seed()))
    assert image.size == (64, 64)

    inpaint = StableDiffusionXLInpaintPipeline.from_pipe(pipeline)
    image = single(inpaint(PROMPT, image=picture(), mask_image=mask(), strength=0.5,
                           num_inference_steps=4, generator=seed()))
    assert image.size == (64, 64)


def test_sdxl_refiner_refines_sdxl_latents(tiny_sdxl: Path, tiny_sdxl_refiner: Path) -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    base = load(StableDiffusionXLPipeline, tiny_sdxl)
    refiner = load(StableDiffusionXLImg2ImgPipeline, tiny_sdxl_refiner)
    assert refiner.text_encoder is None and refiner.tokenizer is None
    assert refiner.config.requires_aesthetics_score
    assert refiner.vae.config.latent_channels == base.vae.config.latent_channels

    latents = base(PROMPT, num_inference_steps=4, denoising_end=0.5, output_type="latent",
                   generator=seed()).images
    assert latents.shape == (1, 4, 8, 8)
    image = single(refiner(PROMPT, image=latents, num_inference_steps=4, denoising_start=0.5,
                           generator=seed()))
    assert image.size == (64, 64)

    image = single(refiner(PROMPT, image=picture(), strength=0.5, num_inference_steps=4,
                           aesthetic_score=7.0, generator=seed()))
    assert image.size == (64, 64)


def test_kolors_txt2img_img2img(tiny_kolors: Path) -> None:
    from diffusers import KolorsImg2ImgPipeline, KolorsPipeline

    pipeline = load(KolorsPipeline, tiny_kolors)
    # the ChatGLM weights are initialised by hand: garbage there gives NaN images
    pixels = pipeline(PROMPT, num_inference_steps=2, output_type="np", generator=seed()).images
    assert pixels.shape == (1, 64, 64, 3)
    assert np.isfinite(pixels).all()
    image = single(pipeline(PROMPT, num_inference_steps=2, generator=seed()))
    assert image.size == (64, 64)

    img2img = KolorsImg2ImgPipeline.from_pipe(pipeline)
    image = single(img2img(PROMPT, image=picture(), strength=0.5, num_inference_steps=4,
                           generator=seed()))
    assert image.size == (64, 64)


def test_pix2pix(tiny_pix2pix: Path) -> None:
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipeline = load(StableDiffusionInstructPix2PixPipeline, tiny_pix2pix)
    assert pipeline.unet.config.in_channels == 8
    image = single(pipeline(PROMPT, image=picture(64, 48), image_guidance_scale=1.5,
                            num_inference_steps=2, generator=seed()))
    assert image.size == (64, 48)


def test_sdxl_pix2pix(tiny_sdxl_pix2pix: Path) -> None:
    from diffusers import StableDiffusionXLInstructPix2PixPipeline

    pipeline = load(StableDiffusionXLInstructPix2PixPipeline, tiny_sdxl_pix2pix)
    assert pipeline.unet.config.in_channels == 8
    image = single(pipeline(PROMPT, image=picture(), image_guidance_scale=1.5,
                            num_inference_steps=2, generator=seed()))
    assert image.size == (64, 64)


def test_upscaler_x4(tiny_upscaler_x4: Path) -> None:
    from diffusers import StableDiffusionUpscalePipeline

    pipeline = load(StableDiffusionUpscalePipeline, tiny_upscaler_x4)
    image = single(pipeline(PROMPT, image=picture(16, 16), noise_level=20,
                            num_inference_steps=2, generator=seed()))
    assert image.size == (64, 64)


def test_upscaler_x2(tiny_upscaler_x2: Path) -> None:
    from diffusers import StableDiffusionLatentUpscalePipeline

    pipeline = load(StableDiffusionLatentUpscalePipeline, tiny_upscaler_x2)
    image = single(pipeline(PROMPT, image=picture(), num_inference_steps=2, generator=seed()))
    assert image.size == (128, 128)
