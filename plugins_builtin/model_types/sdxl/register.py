"""Registration module of the ``sdxl`` plugin (light: no diffusers here)."""

import dataclasses

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, Size, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    CLIP_SKIPS,
    GUIDANCE_RESCALES,
    IMAGE_GUIDANCE_SCALES,
    LATENTS_OPTIONS,
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    ORIGINAL_CONFIG,
    SDXL_CROPS_COORDS_TOP_LEFT,
    SDXL_MICRO_CONDITIONING,
    SDXL_ORIGINAL_SIZES,
    SDXL_TARGET_SIZES,
    SECOND_MODEL_OPTIONS,
    SECOND_PROMPTS,
    VAE_SLICING,
    VAE_TILING,
)

from .options import REFINER_OPTIONS


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="sdxl",
        summary="Stable Diffusion XL, with an optional --sdxl-refiner: txt2img, img2img, "
                "inpaint.",
        target=".family:StableDiffusionXL",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(default_size=Size(1024, 1024),
                                  slots={"vae", "unet", "text_encoder", "text_encoder_2", "lora",
                                         "textual_inversion", "controlnet", "t2i_adapter",
                                         "ip_adapter", "image_encoder"},
                                  inputs={"control", "adapter", "latents"}),
        options=(SECOND_PROMPTS, CLIP_SKIPS, GUIDANCE_RESCALES, ORIGINAL_CONFIG, VAE_TILING,
                 VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD, *LATENTS_OPTIONS,
                 *SDXL_MICRO_CONDITIONING.values(), *REFINER_OPTIONS,
                 # the shared second-model options need the refiner, for sdxl
                 *(dataclasses.replace(option, requires=("--sdxl-refiner",))
                   for option in SECOND_MODEL_OPTIONS)),
    )
    # InstructPix2Pix takes no strength, no custom sigmas, no clip skip and no negative or
    # aesthetic micro-conditioning (its diffusers pipeline has none of them)
    yield ModelTypeSpec(
        name="sdxl-pix2pix",
        summary="Stable Diffusion XL InstructPix2Pix: edits an input image as the prompt says.",
        target=".family:StableDiffusionXLPix2Pix",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.IMG2IMG}, strength=False,
                                  slots={"vae", "unet", "text_encoder", "text_encoder_2", "lora",
                                         "textual_inversion"},
                                  default_size=Size(1024, 1024)),
        options=(IMAGE_GUIDANCE_SCALES, SECOND_PROMPTS, GUIDANCE_RESCALES, ORIGINAL_CONFIG,
                 VAE_TILING, VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD,
                 SDXL_CROPS_COORDS_TOP_LEFT, SDXL_ORIGINAL_SIZES, SDXL_TARGET_SIZES),
    )
