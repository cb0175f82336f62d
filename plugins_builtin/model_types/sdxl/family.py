"""Stable Diffusion XL on diffusers' StableDiffusionXL*Pipeline classes, with the refiner,
and SDXL InstructPix2Pix."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, Mode, RenderOutput, RenderRequest
from dgenerate.plugin_api.diffusion import DiffusersModelType
from dgenerate.plugin_api.diffusion.components import load_unet
from dgenerate.plugin_api.diffusion.options import (
    SDXL_MICRO_CONDITIONING,
    micro_conditioning_value,
)
from dgenerate.plugin_api.diffusion.second_model import (
    SecondModel,
    renamed,
    second_model_arguments,
)
from dgenerate.plugin_api.diffusion.sigmas import resolve_sigmas
from dgenerate.plugin_api.values import Prompt

__all__ = ["StableDiffusionXL", "StableDiffusionXLPix2Pix"]

#: the URI arguments of --sdxl-refiner
REFINER_ARGUMENTS = second_model_arguments("refiner")
REFINER_PIPELINE = "StableDiffusionXLImg2ImgPipeline"

#: the second-model options, by value name, with their flags: they need --sdxl-refiner
_SECOND_MODEL = {
    "second_model_schedulers": "--second-model-schedulers",
    "second_model_guidance_scales": "--second-model-guidance-scales",
    "second_model_inference_steps": "--second-model-inference-steps",
    "second_model_prompts": "--second-model-prompts",
    "second_model_original_config": "--second-model-original-config",
    "second_model_cpu_offload": "--second-model-cpu-offload",
    "second_model_sequential_offload": "--second-model-sequential-offload",
    "second_model_text_encoders": "--second-model-text-encoders",
    "second_model_prompt_weighter": "--second-model-prompt-weighter",
}
_SUB_MODELS: dict[str, str] = {}


def _given(value: Any) -> bool:
    """Whether a declared option has a value (axes not given are ``(None,)``)."""
    if isinstance(value, tuple):
        return any(item is not None for item in value)
    return value is not None and value is not False


def _accepts(pipeline: Any) -> Mapping[str, Any]:
    return inspect.signature(type(pipeline).__call__).parameters


def _add_prompt(arguments: dict[str, Any], prompt: Prompt | None, batch: int,
                positive: str, negative: str) -> None:
    if prompt is None:
        return
    arguments[positive] = [prompt.positive] * batch
    if prompt.negative:
        arguments[negative] = [prompt.negative] * batch


def _micro_conditioning(values: Mapping[str, Any], pipeline: Any,
                        names: Mapping[str, str]) -> dict[str, Any]:
    """The micro-conditioning call arguments ``pipeline`` takes, from the options ``names``
    gives by diffusers argument."""
    accepted = _accepts(pipeline)
    found = {}
    for argument, name in names.items():
        value = values.get(name)
        if value is not None and argument in accepted:
            found[argument] = micro_conditioning_value(value)
    return found


_MAIN_CONDITIONING = {argument: option.name
                      for argument, option in SDXL_MICRO_CONDITIONING.items()}
_REFINER_CONDITIONING = {argument: name.replace("sdxl_", "sdxl_refiner_", 1)
                         for argument, name in _MAIN_CONDITIONING.items()}


def _check_clip_skip(pipeline: Any, clip_skip: int | None, flag: str, what: str) -> None:
    encoder = getattr(pipeline, "text_encoder", None) or getattr(pipeline, "text_encoder_2",
                                                                  None)
    if clip_skip is None or encoder is None:
        return
    layers = encoder.config.num_hidden_layers
    if clip_skip >= layers:
        raise DgenerateError(f"{flag} {clip_skip}: the text encoder of {what} has {layers} "
                             f"layers, so at most {layers - 1} can be skipped")


class _SdxlCommon(DiffusersModelType):
    """What SDXL and SDXL InstructPix2Pix share: no invisible watermark (the outputs do not
    depend on whether the optional package is installed) and the second prompts."""

    def loading_arguments(self) -> dict[str, Any]:
        return {"add_watermarker": False}

    def from_pipe_arguments(self) -> dict[str, Any]:
        return {"add_watermarker": False}

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        _add_prompt(arguments, job.values.get("second_prompts"), job.batch_size,
                    "prompt_2", "negative_prompt_2")
        arguments.update(_micro_conditioning(job.values, pipeline, _MAIN_CONDITIONING))
        return arguments


class StableDiffusionXL(_SdxlCommon):
    """Stable Diffusion XL: txt2img, img2img and inpainting, with an optional refiner.

    One copy of the main model's weights serves the three modes (the img2img and
    inpaint pipelines are built from the loaded one). With ``--sdxl-refiner`` the main
    model stops after ``--sdxl-high-noise-fractions`` of the schedule and hands its
    latents to the refiner, which denoises the rest (cooperative denoising). With
    inpainting, ControlNets or ``--sdxl-refiner-edit`` the main model runs every step and
    the refiner edits its latents as img2img with strength 1 - high noise fraction. The
    refiner takes the ``--second-model-*`` and ``--sdxl-refiner-*`` options; what it is
    not given it takes from the main model's job (scheduler, steps, guidance, prompt,
    guidance rescale).

    ``--model-cpu-offload`` / ``--model-sequential-offload`` (and their ``-2`` forms for
    the refiner) do nothing on the CPU device, where the weights already are.
    """

    pipelines = {
        Mode.TXT2IMG: "StableDiffusionXLPipeline",
        Mode.IMG2IMG: "StableDiffusionXLImg2ImgPipeline",
        Mode.INPAINT: "StableDiffusionXLInpaintPipeline",
    }
    guidance_rescale_modes = frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT})
    latents_native = True  # the pipelines take denoising_start / denoising_end
    variant_pipelines = {
        "controlnet": {
            Mode.TXT2IMG: "StableDiffusionXLControlNetPipeline",
            Mode.IMG2IMG: "StableDiffusionXLControlNetImg2ImgPipeline",
            Mode.INPAINT: "StableDiffusionXLControlNetInpaintPipeline",
        },
        "controlnet_union": {
            Mode.TXT2IMG: "StableDiffusionXLControlNetUnionPipeline",
            Mode.IMG2IMG: "StableDiffusionXLControlNetUnionImg2ImgPipeline",
            Mode.INPAINT: "StableDiffusionXLControlNetUnionInpaintPipeline",
        },
        "t2i_adapter": {Mode.TXT2IMG: "StableDiffusionXLAdapterPipeline"},
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.second = SecondModel(
            self, name="sdxl_refiner", flag="--sdxl-refiner", what="refiner",
            model_type="sdxl refiner", pipeline=REFINER_PIPELINE, arguments=REFINER_ARGUMENTS,
            unet_slot="unet", load_unet=load_unet, extra={"add_watermarker": False})
        self._refiner_warned: set[tuple[int, float]] = set()

    # ------------------------------------------------------------------- checks

    def check(self, request: RenderRequest) -> None:
        super().check(request)
        values = request.values
        for name, flag in _SUB_MODELS.items():
            if _given(values.get(name)):
                raise DgenerateError(f"{flag} is not supported yet (sub-models arrive with "
                                     "issue #13)")
        if values.get("sdxl_refiner") is None:
            for name, flag in _SECOND_MODEL.items():
                if _given(values.get(name)):
                    raise DgenerateError(f"{flag} needs --sdxl-refiner (the second model of "
                                         "--model-type sdxl)")
        else:
            if values.get("denoising_end") is not None:
                raise DgenerateError("--denoising-end cannot be used with --sdxl-refiner: the "
                                     "refiner finishes what the main model leaves; give "
                                     "--sdxl-high-noise-fractions to say where it takes over")
            self.second.check(values)
        if not request.uses_image_seeds and (
                _given(values.get("sdxl_aesthetic_scores"))
                or _given(values.get("sdxl_negative_aesthetic_scores"))):
            raise DgenerateError(
                "--sdxl-aesthetic-scores and --sdxl-negative-aesthetic-scores condition img2img "
                "and inpainting only (the txt2img pipeline has no aesthetic score); for the "
                "refiner give --sdxl-refiner-aesthetic-scores")

    def help_text(self, request: RenderRequest) -> str | None:
        """``--second-model-schedulers help`` / ``helpargs`` and
        ``--second-model-text-encoders help``: about the refiner."""
        text = self.second.help_text(request)
        return super().help_text(request) if text is None else text

    # ------------------------------------------------------------------ refiner

    def uses_refiner(self, job: Job) -> bool:
        return job.values.get("sdxl_refiner") is not None

    def edit_mode(self, job: Job) -> bool:
        """The refiner edits the finished image instead of denoising together: always for
        inpainting and with ControlNets (the refiner cannot take their guidance), and with
        --sdxl-refiner-edit."""
        return (job.mode is Mode.INPAINT or bool(job.values.get("sdxl_refiner_edit"))
                or bool(job.values.get("control_nets")))

    def refiner(self) -> Any:
        """The refiner pipeline, from the kernel's ``pipeline`` cache."""
        return self.second.pipeline()

    def load(self, job: Job) -> Any:
        pipeline = super().load(job)
        if self.uses_refiner(job):
            self.refiner()  # a refiner that cannot load fails before the first job runs
        return pipeline

    def refiner_job(self, job: Job) -> Job:
        """The job as the refiner runs it: its steps, guidance, scheduler, sigmas and (in edit
        mode) strength, with what it is not given taken from the main job."""
        hnf = job.values["sdxl_high_noise_fractions"]
        return self.second.job(
            job, steps=job.inference_steps, guidance=job.guidance_scale,
            sigmas=job.values.get("sdxl_refiner_sigmas"),
            # 1 - 0.8 is 0.19999999999999996 in floats: written as users think of it
            strength=float(f"{1.0 - hnf:.10g}") if self.edit_mode(job) else None)

    def refiner_strength(self, job: Job, second: Job) -> float:
        """The refiner's img2img strength in edit mode: 1 - high noise fraction, raised to one
        step (with a warning) when the refiner's steps x strength round down to none."""
        strength, steps = second.strength, second.inference_steps
        if second.sigmas is not None or int(steps * strength) >= 1:
            return strength
        raised = 1 / steps
        while int(steps * raised) < 1:
            raised = math.nextafter(raised, 2.0)
        if (steps, strength) not in self._refiner_warned:
            self._refiner_warned.add((steps, strength))
            hnf = job.values["sdxl_high_noise_fractions"]
            self.context.warn(
                f"the refiner's {steps} steps with strength {strength:g} (1 - "
                f"--sdxl-high-noise-fractions {hnf:g}) leave it no step to take; its strength "
                f"is raised to {raised:.4g}, one step (give more --second-model-inference-steps "
                "or a lower high noise fraction)")
        return raised

    def refiner_arguments(self, job: Job, refiner: Any, latents: Any) -> dict[str, Any]:
        values = job.values
        second = self.refiner_job(job)
        refiner.scheduler = self.second.scheduler(refiner, second.scheduler, values)
        vae = getattr(refiner, "vae", None)
        if vae is not None:
            vae.enable_tiling() if values.get("vae_tiling") else vae.disable_tiling()
            vae.enable_slicing() if values.get("vae_slicing") else vae.disable_slicing()
        batch = job.batch_size
        arguments: dict[str, Any] = {
            "image": latents,
            "num_inference_steps": second.inference_steps,
            "guidance_scale": second.guidance_scale,
            "generator": self.generators(job),
            "output_type": "latent" if job.latents_output else "pil",
        }
        _add_prompt(arguments, values.get("second_model_prompts") or job.prompt, batch,
                    "prompt", "negative_prompt")
        _add_prompt(arguments, values.get("second_model_second_prompts"), batch,
                    "prompt_2", "negative_prompt_2")
        rescale = values.get("sdxl_refiner_guidance_rescales")
        if rescale is None:
            rescale = values.get("guidance_rescales")
        if rescale is not None:
            arguments["guidance_rescale"] = rescale
        clip_skip = values.get("sdxl_refiner_clip_skips")
        _check_clip_skip(refiner, clip_skip, "--sdxl-refiner-clip-skips", "the refiner")
        if clip_skip is not None:
            arguments["clip_skip"] = clip_skip
        if second.sigmas is not None:
            try:
                arguments["sigmas"] = resolve_sigmas(second.sigmas, refiner.scheduler,
                                                     second.inference_steps)
            except DgenerateError as error:
                raise renamed(error, "--sigmas", "--sdxl-refiner-sigmas",
                              "the refiner's sigmas") from None
            del arguments["num_inference_steps"]
        if self.edit_mode(job):
            arguments["strength"] = self.refiner_strength(job, second)
        else:
            arguments["denoising_start"] = values["sdxl_high_noise_fractions"]
        arguments.update(_micro_conditioning(values, refiner, _REFINER_CONDITIONING))
        return arguments

    # ---------------------------------------------------------- call arguments

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        if self.uses_refiner(job):
            arguments["output_type"] = "latent"  # the refiner goes on from the latents
            if not self.edit_mode(job):
                arguments["denoising_end"] = job.values["sdxl_high_noise_fractions"]
        return arguments

    # -------------------------------------------------------------------- call

    def call(self, job: Job, pipeline: Any, arguments: dict[str, Any]) -> RenderOutput:
        if not self.uses_refiner(job):
            return super().call(job, pipeline, arguments)
        hnf = job.values["sdxl_high_noise_fractions"]
        edit = self.edit_mode(job)
        steps = job.inference_steps if edit else max(1, round(job.inference_steps * hnf))
        latents = self.run_pipeline(job, pipeline, arguments, steps=steps).images
        refiner = self.refiner()
        second = self.refiner_job(job)
        share = (second.strength or 0.0) if edit else 1.0 - hnf
        with self.second.weighed(job, refiner, self.refiner_arguments(job, refiner, latents)
                                 ) as refiner_arguments:
            result = self.run_pipeline(second, refiner, refiner_arguments,
                                       steps=max(1, math.ceil(second.inference_steps * share)),
                                       what="refiner steps")
        info = self.info(job, pipeline)
        info["refiner_scheduler"] = type(refiner.scheduler).__name__
        return RenderOutput(self.outputs(job, refiner, result.images), info)


class StableDiffusionXLPix2Pix(_SdxlCommon):
    """SDXL InstructPix2Pix: the prompt says how to change the input image.

    img2img only, with an image from --image-seeds (no masks); the output has the size
    of the input (after --output-size). There is no strength: --image-guidance-scales
    (above 1) keeps the result close to the input, --guidance-scales to the prompt.
    """

    pipelines = {Mode.IMG2IMG: "StableDiffusionXLInstructPix2PixPipeline"}
    guidance_rescale_modes = frozenset({Mode.IMG2IMG})

    def call_arguments(self, job: Job, pipeline: Any) -> dict[str, Any]:
        arguments = super().call_arguments(job, pipeline)
        # the pipeline would otherwise make latents of its native size, not the image's
        arguments.update(width=job.width, height=job.height,
                         image_guidance_scale=job.values["image_guidance_scales"])
        return arguments
