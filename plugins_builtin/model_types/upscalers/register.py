"""Registration module of the ``upscalers`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    ORIGINAL_CONFIG,
    SAFETY_CHECKER,
    UPSCALER_NOISE_LEVELS,
    VAE_SLICING,
    VAE_TILING,
)

# both upscale the image of --image-seeds (resized first by --output-size, as for every
# model type) and take no strength: --image-seed-strengths is refused
_UPSCALING = Capabilities(modes={Mode.IMG2IMG}, strength=False,
                          slots={"vae", "unet", "text_encoder"})
# the x4 upscaler also takes LoRAs and textual inversions (the x2 one has no such loaders)
_X4 = Capabilities(modes={Mode.IMG2IMG}, strength=False,
                   slots={"vae", "unet", "text_encoder", "lora", "textual_inversion"})


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="upscaler-x4",
        summary="Stable Diffusion x4 upscaler: the input image comes out 4 times larger.",
        target=".family:UpscalerX4",
        requires=("torch", "diffusers"),
        capabilities=_X4,
        # --upscaler-noise-levels applies to upscaler-x4 only (an error with upscaler-x2)
        options=(UPSCALER_NOISE_LEVELS, ORIGINAL_CONFIG, SAFETY_CHECKER, VAE_TILING,
                 VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD),
    )
    yield ModelTypeSpec(
        name="upscaler-x2",
        summary="Stable Diffusion x2 latent upscaler: the input image comes out twice as large.",
        target=".family:UpscalerX2",
        requires=("torch", "diffusers"),
        capabilities=_UPSCALING,
        options=(ORIGINAL_CONFIG, VAE_TILING, VAE_SLICING, MODEL_CPU_OFFLOAD,
                 MODEL_SEQUENTIAL_OFFLOAD),
    )
