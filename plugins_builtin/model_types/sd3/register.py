"""Registration module of the ``sd3`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, OptionSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    CLIP_SKIPS,
    IMAGE_GUIDANCE_SCALES,
    LATENTS_OPTIONS,
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    SECOND_PROMPTS,
    VAE_SLICING,
    VAE_TILING,
    prompt,
)
from dgenerate.plugin_api.errors import ValueSyntaxError
from dgenerate.plugin_api.values import parse_int

__all__ = ["MAX_SEQUENCE_LENGTH", "THIRD_PROMPTS", "sequence_length"]


def sequence_length(text: str) -> int:
    """A T5 token count from 1 to 512."""
    value = parse_int(text, minimum=1)
    if value > 512:
        raise ValueSyntaxError(f"{text!r} must be from 1 to 512 (the most tokens diffusers "
                               "lets a T5 encoder read)")
    return value


THIRD_PROMPTS = OptionSpec(
    flags=("--third-prompts",),
    upscaler=("--third-prompt-upscaler", "--third-prompt-upscalers"),
    type=prompt, axis=True, metavar="PROMPT",
    model_types=("sd3", "sd3-pix2pix"),
    group="prompts",
    help='Prompts to try for the third (T5) text encoder of sd3 ("positive; negative"); by '
         "default it gets the primary prompt.")

# Declared alike by the flux family (with its own model types): no default here, each
# family applies its own when the option is not given (sd3: 256, flux: 512).
MAX_SEQUENCE_LENGTH = OptionSpec(
    flags=("--max-sequence-length",),
    prompt_argument="max-sequence-length",
    type=sequence_length, metavar="INTEGER",
    model_types=("sd3", "sd3-pix2pix"), group="prompts",
    help="The most tokens the T5 text encoder reads from a prompt.")


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="sd3",
        summary="Stable Diffusion 3 and 3.5 (two CLIP encoders and T5): txt2img, img2img, "
                "inpaint.",
        target=".family:StableDiffusion3",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT},
                                  slots={"vae", "text_encoder", "text_encoder_2",
                                         "text_encoder_3", "lora", "controlnet",
                                         "transformer"},
                                  inputs={"control", "latents"}),
        options=(SECOND_PROMPTS, THIRD_PROMPTS, MAX_SEQUENCE_LENGTH, CLIP_SKIPS, VAE_TILING,
                 VAE_SLICING, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD, *LATENTS_OPTIONS),
    )
    # InstructPix2Pix on SD3: no strength, no mask; the prompts and encoders of sd3
    yield ModelTypeSpec(
        name="sd3-pix2pix",
        summary="Stable Diffusion 3 InstructPix2Pix: edits an input image as the prompt says.",
        target=".pix2pix:StableDiffusion3Pix2Pix",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.IMG2IMG}, strength=False,
                                  slots={"vae", "text_encoder", "text_encoder_2",
                                         "text_encoder_3", "lora", "transformer"}),
        options=(IMAGE_GUIDANCE_SCALES, SECOND_PROMPTS, THIRD_PROMPTS, MAX_SEQUENCE_LENGTH,
                 CLIP_SKIPS, VAE_TILING, VAE_SLICING, MODEL_CPU_OFFLOAD,
                 MODEL_SEQUENTIAL_OFFLOAD),
    )
