"""The options of the SDXL refiner (light: registration imports this module).

The options every family with a second model shares (``-sch2``, ``-gs2``, ``-ifs2``
...) and the SDXL micro-conditioning of the main model are in the diffusion toolkit;
these are the refiner's own, and each needs ``--sdxl-refiner``.
"""

from __future__ import annotations

import dataclasses

from dgenerate.plugin_api import OptionSpec
from dgenerate.plugin_api.diffusion.options import (
    SDXL_MICRO_CONDITIONING,
    model_uri,
    non_negative_int,
    open_unit_float,
    prompt,
    sigmas_text,
    unit_float,
)

__all__ = ["REFINER_MICRO_CONDITIONING", "REFINER_OPTIONS"]

_GROUP = "sdxl refiner"
_NEEDS = ("--sdxl-refiner",)

SDXL_REFINER = OptionSpec(
    flags=("--sdxl-refiner",), type=model_uri, metavar="MODEL_URI", group=_GROUP,
    help="An SDXL refiner that finishes every image: a Hugging Face repository, a folder, "
         "a checkpoint file or a URL, with the URI arguments revision, variant (default "
         "--variant), subfolder and dtype (default --dtype); a single file takes only dtype. "
         "The main model does --sdxl-high-noise-fractions of the steps and the refiner the "
         "rest; with inpainting or --sdxl-refiner-edit the refiner edits the finished image "
         "instead (img2img with strength 1 - high noise fraction).")

SDXL_REFINER_EDIT = OptionSpec(
    flags=("--sdxl-refiner-edit",),
    prompt_argument="sdxl-refiner-edit",
    switch=True, requires=_NEEDS, group=_GROUP,
    help="Let the main model do all its steps and the refiner edit the result (img2img with "
         "strength 1 - high noise fraction) instead of denoising together.")

SDXL_HIGH_NOISE_FRACTIONS = OptionSpec(
    flags=("-hnf", "--sdxl-high-noise-fractions"),
    prompt_argument="sdxl-high-noise-fraction",
    type=open_unit_float, axis=True,
    default=(0.8,), metavar="FLOAT", token="hnf", position=610, requires=_NEEDS,
    group=_GROUP,
    help="Fractions of the steps the main model does before the refiner takes over, to try "
         "(between 0 and 1); in edit mode 1 - fraction is the refiner's strength.")

SDXL_REFINER_CLIP_SKIPS = OptionSpec(
    flags=("--sdxl-refiner-clip-skips",),
    prompt_argument="sdxl-refiner-clip-skip",
    type=non_negative_int, axis=True,
    metavar="INTEGER", token="rcs", position=600, requires=_NEEDS, group=_GROUP,
    help="Numbers of final text encoder layers the refiner skips, to try.")

SDXL_REFINER_GUIDANCE_RESCALES = OptionSpec(
    flags=("-rgr", "--sdxl-refiner-guidance-rescales"),
    prompt_argument="sdxl-refiner-guidance-rescale",
    type=unit_float, axis=True,
    metavar="FLOAT", token="rgr", position=640, requires=_NEEDS, group=_GROUP,
    help="Guidance rescale factors to try for the refiner, from 0 to 1; by default the "
         "job's --guidance-rescales value.")

SDXL_REFINER_SIGMAS = OptionSpec(
    flags=("-sir", "--sdxl-refiner-sigmas"), type=sigmas_text, axis=True,
    metavar="CSV_FLOAT_OR_EXPRESSION", position=650, requires=_NEEDS, group=_GROUP,
    help='Sigma schedules to try for the refiner, as for --sigmas ("1.0,0.5,0.1" or '
         '"expr: sigmas * 0.95").')

SECOND_MODEL_SECOND_PROMPTS = OptionSpec(
    flags=("--second-model-second-prompts",),
    upscaler=("--second-model-second-prompt-upscaler",
             "--second-model-second-prompt-upscalers"),
    type=prompt, axis=True, metavar="PROMPT",
    requires=_NEEDS, group=_GROUP,
    help='Prompts to try for the refiner\'s second text encoder ("positive; negative"); by '
         "default the refiner's prompt.")


def _refiner_variant(option: OptionSpec, offset: int) -> OptionSpec:
    flag = option.flag.replace("--sdxl-", "--sdxl-refiner-", 1)
    return dataclasses.replace(
        option, flags=(flag,), name="", requires=_NEEDS, position=option.position + offset,
        group=_GROUP, help=f"{option.flag}, for the refiner.")


#: the refiner's micro-conditioning options, by the diffusers call argument they fill
REFINER_MICRO_CONDITIONING = {
    argument: _refiner_variant(option, 20) for argument, option in SDXL_MICRO_CONDITIONING.items()}

REFINER_OPTIONS = (
    SDXL_REFINER, SDXL_REFINER_EDIT, SDXL_HIGH_NOISE_FRACTIONS, SDXL_REFINER_CLIP_SKIPS,
    SDXL_REFINER_GUIDANCE_RESCALES, SDXL_REFINER_SIGMAS, SECOND_MODEL_SECOND_PROMPTS,
    *REFINER_MICRO_CONDITIONING.values(),
)
