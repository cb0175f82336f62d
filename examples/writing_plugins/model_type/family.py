"""The implementation of ``sd-ddim-eta``: a table of pipelines plus what is its own.

Imported only when the model type is used, so heavy imports are fine here.
"""

from __future__ import annotations

from typing import Any

from diffusers import DDIMScheduler

from dgenerate.plugin_api import Job, Mode, RenderRequest
from dgenerate.plugin_api.diffusion import DiffusersModelType
from dgenerate.plugin_api.diffusion.model_type import original_scheduler


class DDIMEta(DiffusersModelType):
    """Stable Diffusion 1.x and 2.x driven by the DDIM scheduler, with a choice of eta.

    eta scales the fresh noise DDIM adds at every step: 0 gives the deterministic DDIM
    sampler, 1 about the noise of DDPM. The sampling stays reproducible for a given seed
    whatever the eta. txt2img without --image-seeds, img2img with an image, inpainting
    with an image and a mask. --schedulers replaces DDIM; eta then reaches only the
    schedulers that take one.
    """

    # the diffusers pipeline class per mode: the first is loaded from disk, the others
    # are made from it with from_pipe and share its weights
    pipelines = {
        Mode.TXT2IMG: "StableDiffusionPipeline",
        Mode.IMG2IMG: "StableDiffusionImg2ImgPipeline",
        Mode.INPAINT: "StableDiffusionInpaintPipeline",
    }

    def check(self, request: RenderRequest) -> None:
        super().check(request)
        etas = [eta for eta in request.values.get("eta_values") or () if eta]
        others = [uri for uri in request.schedulers
                  if uri is not None and uri.split(";")[0].strip() != "DDIMScheduler"]
        if etas and others:
            self.context.warn(f"--eta-values acts through DDIM; the scheduler {others[0]!r} "
                              "may ignore it")

    def loading_arguments(self) -> dict[str, Any]:
        return {"safety_checker": None, "requires_safety_checker": False}

    def scheduler(self, uri: str | None) -> Any:
        if uri is not None:  # --schedulers: the user's choice
            return super().scheduler(uri)
        _cls, config = original_scheduler(self.base())
        return DDIMScheduler.from_config(config)

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        # the value of this job on the --eta-values axis (declared in __init__.py)
        arguments["eta"] = job.values["eta_values"]
        return arguments
