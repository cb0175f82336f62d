"""Registration module of the ``stable-diffusion`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, ModelTypeSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    CLIP_SKIPS,
    GUIDANCE_RESCALES,
    LATENTS_OPTIONS,
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    ORIGINAL_CONFIG,
    SAFETY_CHECKER,
    VAE_SLICING,
    VAE_TILING,
)


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="sd",
        summary="Stable Diffusion 1.x and 2.x (v-prediction too): txt2img, img2img, inpaint.",
        target=".family:StableDiffusion",
        requires=("torch", "diffusers"),
        default=True,
        capabilities=Capabilities(slots={"vae", "unet", "text_encoder", "lora",
                                         "textual_inversion", "controlnet", "t2i_adapter",
                                         "ip_adapter", "image_encoder"},
                                  inputs={"control", "adapter", "latents"}),
        options=(CLIP_SKIPS, GUIDANCE_RESCALES, ORIGINAL_CONFIG, SAFETY_CHECKER, VAE_TILING,
                 VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD, *LATENTS_OPTIONS),
    )
