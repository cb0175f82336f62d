"""Registration module of the ``flux`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, OptionSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    LATENTS_OPTIONS,
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    SECOND_PROMPTS,
    VAE_SLICING,
    VAE_TILING,
)
from dgenerate.plugin_api.errors import ValueSyntaxError
from dgenerate.plugin_api.values import parse_int

__all__ = ["MAX_SEQUENCE_LENGTH", "sequence_length"]

#: the most tokens the Flux and SD3 pipelines of diffusers let the T5 encoder read
MOST_TOKENS = 512


def sequence_length(text: str) -> int:
    """A T5 token count from 1 to 512."""
    value = parse_int(text, minimum=1)
    if value > MOST_TOKENS:
        raise ValueSyntaxError(f"{text!r} must be from 1 to {MOST_TOKENS} (the most tokens "
                               "diffusers lets a T5 encoder read)")
    return value


# Declared alike (no default) by the sd3 plugin for sd3: the kernel merges equal
# declarations; each family applies its own default (512 here) when it is not given.
MAX_SEQUENCE_LENGTH = OptionSpec(
    flags=("--max-sequence-length",),
    prompt_argument="max-sequence-length",
    type=sequence_length, metavar="INTEGER",
    model_types=("flux", "flux-fill", "flux-kontext"), group="prompts",
    help="The most tokens the T5 text encoder reads from a prompt.")


@hookimpl
def dgenerate_model_types():
    # Flux takes no negative prompt, no --clip-skips and no --guidance-rescales
    yield ModelTypeSpec(
        name="flux",
        summary="Flux (CLIP + T5 text encoders, guidance embedded): txt2img, img2img, "
                "inpaint.",
        target=".family:Flux",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(slots={"vae", "text_encoder", "text_encoder_2", "lora",
                                         "controlnet", "ip_adapter", "image_encoder",
                                         "textual_inversion", "transformer"},
                                  inputs={"control", "adapter", "latents"}),
        options=(SECOND_PROMPTS, MAX_SEQUENCE_LENGTH, VAE_TILING, VAE_SLICING,
                 MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD, *LATENTS_OPTIONS),
    )
    yield ModelTypeSpec(
        name="flux-fill",
        summary="Flux Fill: repaints the masked part of an image (inpaint only).",
        target=".fill:FluxFill",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.INPAINT},
                                  slots={"vae", "text_encoder", "text_encoder_2", "lora",
                                         "textual_inversion", "transformer"}),
        options=(SECOND_PROMPTS, MAX_SEQUENCE_LENGTH, VAE_TILING, VAE_SLICING,
                 MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD),
    )
    # the input image is Kontext's context, not a starting point: no strength
    yield ModelTypeSpec(
        name="flux-kontext",
        summary="Flux Kontext: txt2img, and image editing with the input image as context.",
        target=".kontext:FluxKontext",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.TXT2IMG, Mode.IMG2IMG}, strength=False,
                                  slots={"vae", "text_encoder", "text_encoder_2", "lora",
                                         "transformer"}),
        options=(SECOND_PROMPTS, MAX_SEQUENCE_LENGTH, VAE_TILING, VAE_SLICING,
                 MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD),
    )
