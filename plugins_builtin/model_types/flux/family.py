"""Flux on diffusers' FluxPipeline / FluxImg2ImgPipeline / FluxInpaintPipeline."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode, RenderRequest, Size
from dgenerate.plugin_api.diffusion import DiffusersModelType
from dgenerate.plugin_api.values import Prompt

__all__ = ["DEFAULT_SEQUENCE_LENGTH", "Flux"]

#: the T5 tokens read from a prompt without --max-sequence-length
DEFAULT_SEQUENCE_LENGTH = 512

#: Flux latents are packed 2x2 after the VAE's x8 reduction: sides must divide by 16
_SIDE_MULTIPLE = 16


class Flux(DiffusersModelType):
    """Flux: a flow-matching transformer conditioned by CLIP (pooled) and T5 (sequence).

    txt2img, img2img and inpainting; the img2img and inpaint pipelines are built from the
    loaded one and share its modules. ``--guidance-scales`` is the guidance embedded in
    the transformer (Flux dev); no classifier-free guidance runs, so there is no negative
    prompt, and a prompt with a negative part is refused before anything loads. The
    primary prompt goes to the CLIP encoder (``prompt``), ``--second-prompts`` to the T5
    encoder (``prompt_2``; by default the primary prompt). ``--max-sequence-length``
    (default 512) limits the T5 tokens.
    """

    pipelines = {
        Mode.TXT2IMG: "FluxPipeline",
        Mode.IMG2IMG: "FluxImg2ImgPipeline",
        Mode.INPAINT: "FluxInpaintPipeline",
    }
    #: a union ControlNet is a FluxControlNetModel too: the same pipelines take it
    variant_pipelines = {variant: {
        Mode.TXT2IMG: "FluxControlNetPipeline",
        Mode.IMG2IMG: "FluxControlNetImg2ImgPipeline",
        Mode.INPAINT: "FluxControlNetInpaintPipeline",
    } for variant in ("controlnet", "controlnet_union")}
    guidance_rescale_modes = frozenset()
    denoising_schedulers = ("FlowMatchEulerDiscreteScheduler",)

    # ------------------------------------------------------------------- checks

    def check(self, request: RenderRequest) -> None:
        super().check(request)
        for flag, prompts in (("--prompts", request.prompts),
                              ("--second-prompts", request.values.get("second_prompts") or ())):
            for prompt in prompts:
                if prompt is not None and prompt.negative:
                    raise DgenerateError(
                        f"--model-type {self.name} takes no negative prompt, and the "
                        f"{flag} value {_quoted(prompt)} has the negative part "
                        f"{prompt.negative!r}: Flux runs no classifier-free guidance, so "
                        "there is nothing for a negative prompt to steer away from; remove "
                        "the \"; ...\" part (steer with --guidance-scales instead)")
        size = request.output_size
        if size is not None and (size.width % _SIDE_MULTIPLE or size.height % _SIDE_MULTIPLE):
            raise DgenerateError(
                f"--output-size {size.width}x{size.height}: --model-type {self.name} makes "
                f"images whose sides are multiples of {_SIDE_MULTIPLE} (the VAE's 8 times "
                "the 2x2 packing of the latents)")

    # ------------------------------------------------------------------ loading

    def default_size(self) -> Size:
        """The loaded model's native size: the transformer's sample size when its config
        has one, else the pipeline's default sample size, in latent pixels times the
        VAE's scale factor (1024x1024 for the released Flux models)."""
        if self.capabilities.default_size is not None:
            return self.capabilities.default_size
        base = self.base()
        sample = getattr(base.transformer.config, "sample_size", None) or getattr(
            base, "default_sample_size", 128)
        side = int(sample) * base.vae_scale_factor
        return Size(side, side)

    # ---------------------------------------------------------- call arguments

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        if job.width % _SIDE_MULTIPLE or job.height % _SIDE_MULTIPLE:
            # the pipelines would round the size down and write an image of another size
            raise DgenerateError(
                f"job {job.number}: --model-type {self.name} makes images whose sides are "
                f"multiples of {_SIDE_MULTIPLE}, and this one is {job.width}x{job.height} "
                "(from the input image's aspect); give --output-size WIDTHxHEIGHT with both "
                f"sides multiples of {_SIDE_MULTIPLE}")
        arguments = super().call_arguments(job, pipeline)
        arguments.pop("negative_prompt", None)  # refused in check(); never true CFG
        # Flux img2img makes images of the model's native size unless told the output size
        # (resuming from latents, the toolkit gave the latents' size)
        arguments.setdefault("width", job.width)
        arguments.setdefault("height", job.height)
        second = job.values.get("second_prompts")
        if second is not None:
            arguments["prompt_2"] = [second.positive] * job.batch_size
        length = job.values.get("max_sequence_length")
        arguments["max_sequence_length"] = (DEFAULT_SEQUENCE_LENGTH if length is None
                                            else length)
        return arguments


def _quoted(prompt: Prompt) -> str:
    return repr(f"{prompt.positive}; {prompt.negative}")
