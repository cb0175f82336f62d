"""Registration module of the ``pix2pix`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    IMAGE_GUIDANCE_SCALES,
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    ORIGINAL_CONFIG,
    SAFETY_CHECKER,
    VAE_SLICING,
    VAE_TILING,
)


@hookimpl
def dgenerate_model_types():
    # the edit follows the prompt and --image-guidance-scales; InstructPix2Pix takes no
    # strength (--image-seed-strengths is refused), and the manual gives pix2pix neither
    # --clip-skips nor --guidance-rescales
    yield ModelTypeSpec(
        name="pix2pix",
        summary="Stable Diffusion InstructPix2Pix: edits an input image as the prompt says.",
        target=".family:Pix2Pix",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.IMG2IMG}, strength=False,
                                  slots={"vae", "unet", "text_encoder", "lora",
                                         "textual_inversion", "ip_adapter", "image_encoder"},
                                  inputs={"adapter"}),
        options=(IMAGE_GUIDANCE_SCALES, ORIGINAL_CONFIG, SAFETY_CHECKER, VAE_TILING,
                 VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD),
    )
