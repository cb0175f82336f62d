"""Stable Diffusion 1.x / 2.x on diffusers' StableDiffusion*Pipeline classes."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import Mode
from dgenerate.plugin_api.diffusion import DiffusersModelType


class StableDiffusion(DiffusersModelType):
    """Stable Diffusion 1.x and 2.x, including v-prediction models.

    txt2img without --image-seeds, img2img with an image, inpainting with an
    image and a mask. One copy of the weights serves all three: the img2img and
    inpaint pipelines are built from the loaded one and share its modules.
    """

    #: the schedulers that can stop and resume part way (--denoising-start / -end)
    denoising_schedulers = ("EulerDiscreteScheduler", "LMSDiscreteScheduler", "EDMEulerScheduler",
                            "DPMSolverMultistepScheduler", "DDIMScheduler", "DDPMScheduler",
                            "PNDMScheduler")
    pipelines = {
        Mode.TXT2IMG: "StableDiffusionPipeline",
        Mode.IMG2IMG: "StableDiffusionImg2ImgPipeline",
        Mode.INPAINT: "StableDiffusionInpaintPipeline",
    }
    variant_pipelines = {
        "controlnet": {
            Mode.TXT2IMG: "StableDiffusionControlNetPipeline",
            Mode.IMG2IMG: "StableDiffusionControlNetImg2ImgPipeline",
            Mode.INPAINT: "StableDiffusionControlNetInpaintPipeline",
        },
        "t2i_adapter": {Mode.TXT2IMG: "StableDiffusionAdapterPipeline"},
    }
    #: works with SD models beside the schedulers their own lists as compatible
    extra_schedulers = ("LCMScheduler",)

    def loading_arguments(self) -> dict[str, Any]:
        if self.source.values.get("safety_checker"):
            return {}
        return {"safety_checker": None, "requires_safety_checker": False}

    def loading_key(self) -> tuple:
        return (bool(self.source.values.get("safety_checker")),)
