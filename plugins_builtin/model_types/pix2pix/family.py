"""Stable Diffusion 1.x / 2.x InstructPix2Pix on StableDiffusionInstructPix2PixPipeline."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import Job, Mode
from dgenerate.plugin_api.diffusion import DiffusersModelType, pipeline_class
from dgenerate.plugin_api.diffusion.loading import safety_checker_arguments


class Pix2Pix(DiffusersModelType):
    """InstructPix2Pix models: the prompt says how to change the input image.

    img2img only, with an image from --image-seeds (no masks); the output has the size
    of the input (after --output-size). There is no strength: how closely the result
    keeps to the input is set with --image-guidance-scales (enabled above 1), and how
    closely it follows the prompt with --guidance-scales.
    """

    pipelines = {Mode.IMG2IMG: "StableDiffusionInstructPix2PixPipeline"}

    def loading_arguments(self) -> dict[str, Any]:
        return safety_checker_arguments(pipeline_class(self.pipelines[self.base_mode]),
                                        bool(self.source.values.get("safety_checker")))

    def loading_key(self) -> tuple:
        return (bool(self.source.values.get("safety_checker")),)

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        arguments["image_guidance_scale"] = job.values["image_guidance_scales"]
        return arguments
