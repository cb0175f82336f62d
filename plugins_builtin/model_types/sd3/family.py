"""Stable Diffusion 3 and 3.5 on diffusers' StableDiffusion3*Pipeline classes."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode
from dgenerate.plugin_api.diffusion import DiffusersModelType
from dgenerate.plugin_api.values import Prompt, Size

__all__ = ["DEFAULT_MAX_SEQUENCE_LENGTH", "StableDiffusion3"]

#: the T5 tokens read from a prompt when --max-sequence-length is not given
DEFAULT_MAX_SEQUENCE_LENGTH = 256


def _add_prompt(arguments: dict[str, Any], prompt: Prompt | None, batch: int,
                positive: str, negative: str) -> None:
    if prompt is None:
        return
    arguments[positive] = [prompt.positive] * batch
    if prompt.negative:
        arguments[negative] = [prompt.negative] * batch


class StableDiffusion3(DiffusersModelType):
    """Stable Diffusion 3 and 3.5: a transformer conditioned by two CLIP text encoders and a
    T5 encoder, with a flow-matching scheduler.

    txt2img, img2img and inpainting share one copy of the weights (the img2img and inpaint
    pipelines are built from the loaded one). ``--second-prompts`` go to the second CLIP
    encoder, ``--third-prompts`` to T5; each gets the primary prompt when not given.
    """

    pipelines = {
        Mode.TXT2IMG: "StableDiffusion3Pipeline",
        Mode.IMG2IMG: "StableDiffusion3Img2ImgPipeline",
        Mode.INPAINT: "StableDiffusion3InpaintPipeline",
    }
    #: ControlNets guide txt2img only (the manual: not img2img or inpainting with sd3)
    variant_pipelines = {"controlnet": {Mode.TXT2IMG: "StableDiffusion3ControlNetPipeline"}}
    guidance_rescale_modes = frozenset()
    denoising_schedulers = ("FlowMatchEulerDiscreteScheduler",)

    def default_size(self) -> Size:
        """The transformer's native size: its sample size in latents times the VAE's scale
        (1024 for the released SD3 and SD3.5 models)."""
        if self.capabilities.default_size is not None:
            return self.capabilities.default_size
        base = self.base()
        side = base.transformer.config.sample_size * base.vae_scale_factor
        return Size(side, side)

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        vae = getattr(pipeline, "vae", None)
        if vae is not None and vae.config.get("shift_factor") is None:
            raise DgenerateError(
                f"the VAE {type(vae).__name__} has no shift_factor in its config, which SD3 "
                "decodes with: --model-type sd3 needs an SD3 VAE (16 latent channels, "
                "scaling and shift factors)")
        arguments = super().call_arguments(job, pipeline)
        values = job.values
        _add_prompt(arguments, values.get("second_prompts"), job.batch_size,
                    "prompt_2", "negative_prompt_2")
        _add_prompt(arguments, values.get("third_prompts"), job.batch_size,
                    "prompt_3", "negative_prompt_3")
        length = values.get("max_sequence_length")
        arguments["max_sequence_length"] = (DEFAULT_MAX_SEQUENCE_LENGTH if length is None
                                            else length)
        return arguments

    def call(self, job: Job, pipeline: Any, arguments: dict[str, Any]) -> Any:
        """diffusers' SD3 ControlNet pipeline encodes the control image with noise drawn from
        torch's global generator: seeded from the job's seed (and restored afterwards), its
        pictures repeat like every other."""
        if "control_image" not in arguments:
            return super().call(job, pipeline, arguments)
        import torch

        cuda = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(job.seeds[0])
            return super().call(job, pipeline, arguments)
