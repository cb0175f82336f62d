"""Options several diffusers families share, ready to list in a ``ModelTypeSpec``.

A family lists the ones it honours in its spec's ``options``; the kernel merges
equal declarations of several families into one option that applies to all of
them. Light: no torch here, registration modules import it.
"""

from __future__ import annotations

import ast
import itertools
from typing import Any, NamedTuple

from ..errors import ValueSyntaxError
from ..options import OptionSpec
from ..prompts import parse_prompt
from ..values import MAX_IMAGE_SIDE, Prompt, Size, parse_csv_floats, parse_int, parse_size

__all__ = [
    "CLIP_SKIPS",
    "GUIDANCE_RESCALES",
    "IMAGE_GUIDANCE_SCALES",
    "LATENTS_OPTIONS",
    "ORIGINAL_CONFIG",
    "SAFETY_CHECKER",
    "UPSCALER_NOISE_LEVELS",
    "VAE_SLICING",
    "VAE_TILING",
    "non_negative_int",
    "unit_float",
]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueSyntaxError(f"{text!r} is not a number") from None


def unit_float(text: str) -> float:
    """A finite number from 0 to 1."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise ValueSyntaxError(f"{text!r} must be from 0 to 1")
    return value


def non_negative_int(text: str) -> int:
    return parse_int(text, minimum=0)


CLIP_SKIPS = OptionSpec(
    flags=("-cs", "--clip-skips"),
    prompt_argument="clip-skip",
    type=non_negative_int, axis=True, metavar="INTEGER",
    token="cs", position=500, group="text encoders",
    help="Numbers of final text encoder layers to skip, to try.")

GUIDANCE_RESCALES = OptionSpec(
    flags=("-gr", "--guidance-rescales"),
    prompt_argument="guidance-rescale",
    type=unit_float, axis=True, metavar="FLOAT",
    token="gr", position=320, group="guidance",
    help="Guidance rescale factors to try, from 0 to 1 (reduces the over-exposure of "
         "zero-terminal-SNR models); sd takes them in txt2img only, sdxl in every mode.")

ORIGINAL_CONFIG = OptionSpec(
    flags=("-olc", "--original-config"), metavar="FILE", group="model loading",
    help="The original LDM .yaml config of a single-file checkpoint.")

SAFETY_CHECKER = OptionSpec(
    flags=("-sc", "--safety-checker"), switch=True, group="model loading",
    help="Load the model's safety checker; flagged images come out black.")

VAE_TILING = OptionSpec(
    flags=("-vt", "--vae-tiling"), switch=True, group="memory", reproduce=False,
    help="Decode with the VAE in tiles, to save memory on large images.")

VAE_SLICING = OptionSpec(
    flags=("-vs", "--vae-slicing"), switch=True, group="memory", reproduce=False,
    help="Decode a batch with the VAE one image at a time, to save memory.")

# Declared alike by the upscalers and deepfloyd plugins, without default: each family applies
# its own when the option is not given (upscaler-x4: 20, ifs and ifs-img2img: 250, 0 when
# inpainting).
UPSCALER_NOISE_LEVELS = OptionSpec(
    flags=("-uns", "--upscaler-noise-levels"),
    prompt_argument="upscaler-noise-level",
    type=non_negative_int, axis=True,
    metavar="INTEGER", token="unl", position=200, group="upscalers",
    help="Noise levels to try: how much noise is added to the input image before it is "
         "upscaled (like --image-seed-strengths for the other model types). (default: 20 for "
         "upscaler-x4, 250 for ifs and ifs-img2img, 0 for them when inpainting)")


# ------------------------------------------------------------------ converters


def open_unit_float(text: str) -> float:
    """A number strictly between 0 and 1 (a fraction of a schedule, at both ends useless)."""
    value = _number(text)
    if not 0.0 < value < 1.0:
        raise ValueSyntaxError(f"{text!r} must be between 0 and 1 (both excluded)")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0.0:
        raise ValueSyntaxError(f"{text!r} must be at least 0")
    return value


def positive_int(text: str) -> int:
    return parse_int(text, minimum=1)


def image_guidance_float(text: str) -> float:
    """An image guidance scale: at least 1 (it takes effect above 1)."""
    value = _number(text)
    if value < 1.0:
        raise ValueSyntaxError(f"{text!r} must be at least 1")
    return value


def prompt(text: str) -> Prompt:
    """``"positive; negative"`` as a :class:`~dgenerate.plugin_api.values.Prompt`."""
    return parse_prompt(text)


def model_uri(text: str) -> str:
    """A model or sub-model URI (``path;key=value...``): not blank. Its arguments are
    checked by the model type (``context.parse_uri``) before anything loads."""
    if not text.strip():
        raise ValueSyntaxError(f"{text!r} is empty; give a model path or URI")
    return text


def scheduler_uri(text: str) -> str:
    """A scheduler URI of the second model, or ``help`` / ``helpargs`` (the model type lists
    the second model's schedulers, see ``ModelType.help_text``)."""
    if not text.strip():
        raise ValueSyntaxError(f"{text!r} is empty; give a scheduler name")
    if text.strip().lower() in ("help", "helpargs"):
        return text.strip().lower()
    return text


def sigmas_text(text: str) -> str:
    """A sigma schedule: ``1.0,0.5,0.1`` (numbers >= 0) or ``expr: <python expression>``;
    returned as written (the expression is checked for syntax only)."""
    stripped = text.strip()
    if stripped.lower().startswith("expr:"):
        expression = stripped[len("expr:"):].strip()
        if not expression:
            raise ValueSyntaxError(f"{text!r} has no expression after 'expr:'")
        try:
            ast.parse(expression, mode="eval")
        except SyntaxError as error:
            raise ValueSyntaxError(
                f"the expression {expression!r} is not valid Python: {error.msg}") from None
        return stripped
    values = parse_csv_floats(stripped)
    if any(value < 0 for value in values):
        raise ValueSyntaxError(f"{text!r} has a negative sigma")
    if any(later >= earlier for earlier, later in itertools.pairwise(values)):
        raise ValueSyntaxError(f"{text!r}: the sigmas must decrease from first to last")
    return stripped


def size(text: str) -> Size:
    """``WIDTHxHEIGHT`` or one number for a square."""
    return parse_size(text, maximum=MAX_IMAGE_SIDE)


class Coordinate(NamedTuple):
    """A point in pixels, written ``x,y`` (``str`` gives it back that way)."""

    x: int
    y: int

    def __str__(self) -> str:
        return f"{self.x},{self.y}"


def coordinate(text: str) -> Coordinate:
    """``x,y`` in whole pixels, both at least 0."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueSyntaxError(f"{text!r} is not a coordinate x,y (such as 0,0)")
    x, y = (parse_int(part, what="coordinate", minimum=0) for part in parts)
    return Coordinate(x, y)


# ------------------------------------------------------------- offloading

MODEL_CPU_OFFLOAD = OptionSpec(
    flags=("-mco", "--model-cpu-offload"), switch=True, group="memory", reproduce=False,
    help="Keep the main model's parts in CPU memory and move each to the device only while "
         "it runs (less device memory, slower). Nothing to do on the CPU device. Cannot be "
         "used with --model-sequential-offload.")

MODEL_SEQUENTIAL_OFFLOAD = OptionSpec(
    flags=("-mqo", "--model-sequential-offload"), switch=True, group="memory",
    reproduce=False,
    help="Move the main model's layers to the device one at a time while they run (least "
         "device memory, much slower). Nothing to do on the CPU device. Cannot be used with "
         "--model-cpu-offload.")

# ------------------------------------------------------- prompts of more encoders

SECOND_PROMPTS = OptionSpec(
    flags=("--second-prompts",),
    upscaler=("--second-prompt-upscaler", "--second-prompt-upscalers"),
    type=prompt, axis=True, metavar="PROMPT", group="prompts",
    help='Prompts to try for the second text encoder ("positive; negative"); by default it '
         "gets the primary prompt.")

# -------------------------------------------------------------------- pix2pix

IMAGE_GUIDANCE_SCALES = OptionSpec(
    flags=("-igs", "--image-guidance-scales"),
    prompt_argument="image-guidance-scale",
    type=image_guidance_float, axis=True,
    default=(1.5,), metavar="FLOAT", token="igs", position=330, group="pix2pix",
    help="Image guidance scales to try, at least 1: above 1 the output stays closer to the "
         "input image, often at some cost in quality. For the *-pix2pix model types.")

# --------------------------------------------- SDXL micro-conditioning (the main model)

_PAPER = "(SDXL micro-conditioning, section 2.2 of arxiv.org/abs/2307.01952)"

SDXL_AESTHETIC_SCORES = OptionSpec(
    flags=("--sdxl-aesthetic-scores",),
    prompt_argument="sdxl-aesthetic-score",
    type=float, axis=True, metavar="FLOAT",
    position=700, group="sdxl micro-conditioning",
    help=f"Aesthetic scores to try, conditioning the positive prompt {_PAPER}; used by models "
         "trained with them (refiners) in img2img and inpainting.")

SDXL_CROPS_COORDS_TOP_LEFT = OptionSpec(
    flags=("--sdxl-crops-coords-top-left",),
    prompt_argument="sdxl-crops-coords-top-left",
    type=coordinate, axis=True, metavar="COORD",
    position=701, group="sdxl micro-conditioning",
    help=f'Crop coordinates "x,y" to try: the image looks cropped from that point '
         f'{_PAPER}; "0,0" gives well centered images.')

SDXL_ORIGINAL_SIZES = OptionSpec(
    flags=("--sdxl-original-sizes",),
    prompt_argument="sdxl-original-size",
    type=size, axis=True, metavar="SIZE", position=702,
    group="sdxl micro-conditioning",
    help=f"Original image sizes WIDTHxHEIGHT to try {_PAPER}; unlike the target size the "
         "image looks up- or down-sampled. Default: the output size.")

SDXL_TARGET_SIZES = OptionSpec(
    flags=("--sdxl-target-sizes",),
    prompt_argument="sdxl-target-size",
    type=size, axis=True, metavar="SIZE", position=703,
    group="sdxl micro-conditioning",
    help=f"Target image sizes WIDTHxHEIGHT to try {_PAPER}; usually the output size, which "
         "is the default.")

SDXL_NEGATIVE_AESTHETIC_SCORES = OptionSpec(
    flags=("--sdxl-negative-aesthetic-scores",),
    prompt_argument="sdxl-negative-aesthetic-score",
    type=float, axis=True, metavar="FLOAT",
    position=704, group="sdxl micro-conditioning",
    help=f"Aesthetic scores to try, conditioning the negative prompt {_PAPER}; see "
         "--sdxl-aesthetic-scores.")

SDXL_NEGATIVE_ORIGINAL_SIZES = OptionSpec(
    flags=("--sdxl-negative-original-sizes",),
    prompt_argument="sdxl-negative-original-size",
    type=size, axis=True, metavar="SIZE",
    position=705, group="sdxl micro-conditioning",
    help=f"Original sizes WIDTHxHEIGHT to condition away from {_PAPER}.")

SDXL_NEGATIVE_TARGET_SIZES = OptionSpec(
    flags=("--sdxl-negative-target-sizes",),
    prompt_argument="sdxl-negative-target-size",
    type=size, axis=True, metavar="SIZE",
    position=706, group="sdxl micro-conditioning",
    help=f"Target sizes WIDTHxHEIGHT to condition away from {_PAPER}; usually the same as "
         "--sdxl-target-sizes.")

SDXL_NEGATIVE_CROPS_COORDS_TOP_LEFT = OptionSpec(
    flags=("--sdxl-negative-crops-coords-top-left",),
    prompt_argument="sdxl-negative-crops-coords-top-left",
    type=coordinate, axis=True,
    metavar="COORD", position=707, group="sdxl micro-conditioning",
    help=f'Crop coordinates "x,y" to condition away from {_PAPER}.')

#: every SDXL micro-conditioning option, by the diffusers call argument it fills
SDXL_MICRO_CONDITIONING = {
    "aesthetic_score": SDXL_AESTHETIC_SCORES,
    "crops_coords_top_left": SDXL_CROPS_COORDS_TOP_LEFT,
    "original_size": SDXL_ORIGINAL_SIZES,
    "target_size": SDXL_TARGET_SIZES,
    "negative_aesthetic_score": SDXL_NEGATIVE_AESTHETIC_SCORES,
    "negative_original_size": SDXL_NEGATIVE_ORIGINAL_SIZES,
    "negative_target_size": SDXL_NEGATIVE_TARGET_SIZES,
    "negative_crops_coords_top_left": SDXL_NEGATIVE_CROPS_COORDS_TOP_LEFT,
}


def micro_conditioning_value(value: Any) -> Any:
    """A micro-conditioning value as diffusers takes it: sizes and crop coordinates are
    ``(height, width)`` / ``(top, left)`` pairs there; scores pass as they are."""
    if isinstance(value, Size):
        return (value.height, value.width)
    if isinstance(value, Coordinate):
        return (value.y, value.x)
    return value


# ---------------------------------------- the second model (SDXL refiner, Cascade decoder)
#
# Shared by every family with a second model. They carry no ``requires`` here: a family
# may declare ``dataclasses.replace(OPTION, requires=("--its-second-model",))`` (each
# declaration's ``requires`` holds for its own model types) or check it itself.

SECOND_MODEL_SCHEDULERS = OptionSpec(
    flags=("-sch2", "--second-model-schedulers", "--second-model-scheduler"),
    prompt_argument="second-model-scheduler-uri",
    type=scheduler_uri, axis=True, metavar="SCHEDULER_URI", token="", position=10,
    group="second model",
    help="Schedulers to try for the second model (SDXL refiner, Stable Cascade decoder), as "
         "URIs like --schedulers; by default the one of --schedulers, or the second model's "
         "own.")

SECOND_MODEL_GUIDANCE_SCALES = OptionSpec(
    flags=("-gs2", "--second-model-guidance-scales"),
    prompt_argument="second-model-guidance-scale",
    type=non_negative_float, axis=True,
    metavar="FLOAT", token="g2", position=310, group="second model",
    help="Guidance scales to try for the second model; by default the job's guidance scale "
         "for the SDXL refiner, 0 for the Stable Cascade decoder.")

SECOND_MODEL_INFERENCE_STEPS = OptionSpec(
    flags=("-ifs2", "--second-model-inference-steps"),
    prompt_argument="second-model-inference-steps",
    type=positive_int, axis=True,
    metavar="INTEGER", token="i2", position=410, group="second model",
    help="Inference steps to try for the second model; by default the job's inference steps "
         "for the SDXL refiner, 10 for the Stable Cascade decoder.")

SECOND_MODEL_PROMPTS = OptionSpec(
    flags=("--second-model-prompts",),
    upscaler=("-pu2", "--second-model-prompt-upscaler", "--second-model-prompt-upscalers"),
    type=prompt, axis=True, metavar="PROMPT",
    group="second model",
    help='Prompts to try with the second model ("positive; negative"); by default it gets '
         "the primary prompt.")

SECOND_MODEL_ORIGINAL_CONFIG = OptionSpec(
    flags=("-olc2", "--second-model-original-config"), metavar="FILE", group="second model",
    help="The original LDM .yaml config of a single-file checkpoint given as the second model.")

SECOND_MODEL_UNET = OptionSpec(
    flags=("-un2", "--second-model-unet"),
    variable="second_model_unet_uri", type=model_uri, metavar="UNET_URI",
    group="second model",
    help="A UNet for the second model (the SDXL refiner, the Stable Cascade decoder) instead "
         "of its own, in the syntax of --unet; its variant and dtype default to the second "
         "model's.")

SECOND_MODEL_TEXT_ENCODERS = OptionSpec(
    flags=("-te2", "--second-model-text-encoders"),
    variable="second_model_text_encoder_uris", type=model_uri, several=True,
    metavar="TEXT_ENCODER_URIS", group="second model",
    help="Text encoders for the second model (the SDXL refiner, the Stable Cascade decoder) "
         "instead of its own, in the syntax of --text-encoders (one URI, + or null per text "
         "encoder slot of the second model; help lists them); their variant and dtype default "
         "to the second model's.")

SECOND_MODEL_CPU_OFFLOAD = OptionSpec(
    flags=("-mco2", "--second-model-cpu-offload"), switch=True, group="second model",
    reproduce=False,
    help="--model-cpu-offload for the second model. Cannot be used with "
         "--second-model-sequential-offload.")

SECOND_MODEL_SEQUENTIAL_OFFLOAD = OptionSpec(
    flags=("-mqo2", "--second-model-sequential-offload"), switch=True, group="second model",
    reproduce=False,
    help="--model-sequential-offload for the second model. Cannot be used with "
         "--second-model-cpu-offload.")

SECOND_MODEL_PROMPT_WEIGHTER = OptionSpec(
    flags=("-pw2", "--second-model-prompt-weighter"), metavar="PROMPT_WEIGHTER_URI",
    group="second model", variable="second_model_prompt_weighter_uri",
    help="The prompt weighter of the second model (the SDXL refiner, the Stable Cascade "
         "decoder), a URI as for --prompt-weighter; by default the second model uses the "
         "weighter of the job (--prompt-weighter or the prompt's <weighter: ...>).")

#: the second-model options, in the order families list them
SECOND_MODEL_OPTIONS = (
    SECOND_MODEL_SCHEDULERS, SECOND_MODEL_GUIDANCE_SCALES, SECOND_MODEL_INFERENCE_STEPS,
    SECOND_MODEL_PROMPTS, SECOND_MODEL_ORIGINAL_CONFIG, SECOND_MODEL_UNET,
    SECOND_MODEL_TEXT_ENCODERS, SECOND_MODEL_CPU_OFFLOAD, SECOND_MODEL_SEQUENTIAL_OFFLOAD,
    SECOND_MODEL_PROMPT_WEIGHTER,
)


# ------------------------------------------------------------- latents interchange
# Declared by every family that declares the "latents" image-seed input; the toolkit
# (.latents) does the work.

DENOISING_START = OptionSpec(
    flags=("-ds", "--denoising-start"),
    prompt_argument="denoising-start",
    type=open_unit_float, metavar="FLOAT",
    group="latents",
    help="Resume denoising at this fraction of the schedule (between 0 and 1) from the "
         "partly denoised latents of latents: or latents= image seeds (cooperative "
         "denoising); sd takes the schedulers Euler, LMS, EDMEuler, DPMSolverMultistep, "
         "DDIM, DDPM and PNDM, sd3 and flux FlowMatchEulerDiscrete, sdxl and kolors any.")

DENOISING_END = OptionSpec(
    flags=("-de", "--denoising-end"),
    prompt_argument="denoising-end",
    type=open_unit_float, metavar="FLOAT",
    group="latents",
    help="Stop denoising at this fraction of the schedule (between 0 and 1), leaving noisy "
         "latents for another model to finish: write them with --image-format pt; the "
         "schedulers are those of --denoising-start.")

LATENTS_PROCESSORS = OptionSpec(
    flags=("-lp", "--latents-processors"),
    prompt_argument="latents-processors",
    several=True, metavar="LATENTS_PROCESSOR_URI",
    group="latents",
    help="Latents processors run in order on the latents of latents: and latents= image "
         "seeds before denoising; '+' starts the chain of the next latents input.")

IMG2IMG_LATENTS_PROCESSORS = OptionSpec(
    flags=("-ilp", "--img2img-latents-processors"),
    prompt_argument="img2img-latents-processors",
    several=True,
    metavar="LATENTS_PROCESSOR_URI", group="latents",
    help="Latents processors run in order on tensor files given as img2img images, before "
         "the model's VAE decodes them; '+' starts the chain of the next tensor image.")

LATENTS_POST_PROCESSORS = OptionSpec(
    flags=("-lpp", "--latents-post-processors"),
    prompt_argument="latents-post-processors",
    several=True,
    metavar="LATENTS_PROCESSOR_URI", group="latents",
    help="Latents processors run in order on the latents a tensor --image-format writes.")

#: every latents interchange option, for a family's spec
LATENTS_OPTIONS = (DENOISING_START, DENOISING_END, LATENTS_PROCESSORS,
                   IMG2IMG_LATENTS_PROCESSORS, LATENTS_POST_PROCESSORS)
