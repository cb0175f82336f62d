"""Registration module of the ``kolors`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, Size, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    LATENTS_OPTIONS,
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    VAE_SLICING,
    VAE_TILING,
)


@hookimpl
def dgenerate_model_types():
    # diffusers has Kolors pipelines for txt2img and img2img only (no inpainting); the
    # ChatGLM text encoder takes no --clip-skips, and Kolors has no --guidance-rescales
    yield ModelTypeSpec(
        name="kolors",
        summary="Kolors (ChatGLM text encoder, SDXL-like UNet): txt2img, img2img.",
        target=".family:Kolors",
        requires=("torch", "diffusers", "sentencepiece"),
        capabilities=Capabilities(modes={Mode.TXT2IMG, Mode.IMG2IMG},
                                  slots={"vae", "unet", "text_encoder", "lora", "ip_adapter",
                                         "image_encoder", "controlnet"},
                                  inputs={"adapter", "control", "latents"},
                                  default_size=Size(1024, 1024)),
        options=(VAE_TILING, VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD,
                 *LATENTS_OPTIONS),
    )
