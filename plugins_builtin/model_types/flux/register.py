"""Registration module of the ``flux`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, ModelTypeSpec, OptionSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
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
    flags=("--max-sequence-length",), type=sequence_length, metavar="INTEGER",
    model_types=("flux",), group="prompts",
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
        capabilities=Capabilities(slots={"vae", "text_encoder", "text_encoder_2", "lora"}),
        options=(SECOND_PROMPTS, MAX_SEQUENCE_LENGTH, VAE_TILING, VAE_SLICING,
                 MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD),
    )
