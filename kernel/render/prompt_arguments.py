"""Embedded prompt arguments (``<inference-steps: 50> a prompt``) that dgenerate 5.0.0
understands and this version does not implement yet.

A prompt naming one of them is refused with an error, so that the argument is
neither ignored nor rendered as part of the prompt text. Other ``<...>`` text
(``<lora:name:1>`` of other tools) stays prompt text.
"""

from __future__ import annotations

import re

from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["EMBEDDED_ARGUMENTS", "check_prompt_arguments"]

#: The names dgenerate 5.0.0 accepts as ``<name: value>`` inside a prompt.
_NAMES = """
weighter upscaler scheduler-uri second-model-scheduler-uri latents-processors
latents-post-processors img2img-latents-processors decoded-latents-image-processor-uris
width height batch-size max-sequence-length sdxl-refiner-edit seed image-seed-strength
sdxl-t2i-adapter-factor upscaler-noise-level sdxl-high-noise-fraction
second-model-inference-steps second-model-guidance-scale sdxl-refiner-guidance-rescale
sdxl-aesthetic-score sdxl-original-size sdxl-target-size sdxl-crops-coords-top-left
sdxl-negative-aesthetic-score sdxl-negative-original-size sdxl-negative-target-size
sdxl-negative-crops-coords-top-left sdxl-refiner-aesthetic-score sdxl-refiner-original-size
sdxl-refiner-target-size sdxl-refiner-crops-coords-top-left
sdxl-refiner-negative-aesthetic-score sdxl-refiner-negative-original-size
sdxl-refiner-negative-target-size sdxl-refiner-negative-crops-coords-top-left guidance-scale
hi-diffusion-no-win-attn hi-diffusion-no-raunet sada-max-downsample sada-sx sada-sy
sada-acc-range sada-lagrange-term sada-lagrange-int sada-lagrange-step sada-max-fix
sada-max-interval tea-cache-rel-l1-threshold ras-index-fusion ras-sample-ratio
ras-high-ratio ras-starvation-scale ras-error-reset-steps ras-start-step ras-end-step
ras-metric ras-skip-num-step ras-skip-num-step-length pag-scale pag-adaptive-scale
sdxl-refiner-pag-scale sdxl-refiner-pag-adaptive-scale image-guidance-scale
guidance-rescale inference-steps clip-skip sdxl-refiner-clip-skip adetailer-model-masks
adetailer-mask-shape adetailer-detector-padding adetailer-mask-padding adetailer-mask-blur
adetailer-mask-dilation adetailer-size deep-cache-interval deep-cache-branch-id
sdxl-refiner-deep-cache sdxl-refiner-deep-cache-interval sdxl-refiner-deep-cache-branch-id
denoising-start denoising-end
"""
EMBEDDED_ARGUMENTS = frozenset(_NAMES.split())

_ARGUMENT = re.compile(r"<\s*([A-Za-z][A-Za-z0-9_-]*)\s*:([^>]*)>")


def check_prompt_arguments(prompt: str) -> None:
    """Refuse a prompt that embeds an argument this version does not implement yet."""
    for match in _ARGUMENT.finditer(prompt):
        name = match.group(1).lower().replace("_", "-")
        if name in EMBEDDED_ARGUMENTS:
            raise DgenerateError(
                f"--prompts {prompt!r}: the embedded prompt argument {match.group(0)!r} is not "
                "supported yet; give the value with its command-line option instead (it "
                "applies to every prompt)")
