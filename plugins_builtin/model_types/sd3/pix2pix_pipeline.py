"""An InstructPix2Pix pipeline for Stable Diffusion 3 transformers (diffusers has none).

InstructPix2Pix SD3 models (UltraEdit's free-form SD3 model and the like) are SD3
transformers whose input has twice the latent channels: the noisy latents and, beside them,
the latents of the image to edit. Guidance is three-way, as in the Stable Diffusion
InstructPix2Pix pipeline: text and image, image only, neither; ``guidance_scale`` weighs the
prompt, ``image_guidance_scale`` the input image.

Everything else (prompt encoding with three text encoders, latents, schedules, decoding) is
the one of :class:`diffusers.StableDiffusion3Pipeline`, which this class extends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from diffusers import StableDiffusion3Pipeline
from diffusers.pipelines.stable_diffusion_3.pipeline_output import StableDiffusion3PipelineOutput
from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import (
    calculate_shift,
    retrieve_timesteps,
)

__all__ = ["StableDiffusion3InstructPix2PixPipeline"]


class StableDiffusion3InstructPix2PixPipeline(StableDiffusion3Pipeline):
    """Edit an image as the prompt says with an InstructPix2Pix SD3 transformer."""

    _callback_tensor_inputs = ["latents", "prompt_embeds", "pooled_prompt_embeds"]

    @property
    def image_guidance_scale(self) -> float:
        return self._image_guidance_scale

    def image_latents(self, image: Any, batch: int, height: int, width: int,
                      dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The VAE latents of ``image`` (one, or one per image of the batch), normalized the
        way SD3 normalizes its latents; the distribution's mode, so no generator is used."""
        pixels = self.image_processor.preprocess(image, height=height, width=width)
        pixels = pixels.to(device=device, dtype=self.vae.dtype)
        latents = self.vae.encode(pixels).latent_dist.mode()
        latents = (latents - self.vae.config.shift_factor) * self.vae.config.scaling_factor
        latents = latents.to(dtype)
        if latents.shape[0] != batch:
            if batch % latents.shape[0]:
                raise ValueError(f"{latents.shape[0]} input images cannot be spread over a "
                                 f"batch of {batch} images")
            latents = latents.repeat_interleave(batch // latents.shape[0], dim=0)
        return latents

    @torch.no_grad()
    def __call__(
            self,
            prompt: str | list[str] | None = None,
            prompt_2: str | list[str] | None = None,
            prompt_3: str | list[str] | None = None,
            image: Any = None,
            height: int | None = None,
            width: int | None = None,
            num_inference_steps: int | None = 28,
            sigmas: list[float] | None = None,
            guidance_scale: float = 7.0,
            image_guidance_scale: float = 1.5,
            negative_prompt: str | list[str] | None = None,
            negative_prompt_2: str | list[str] | None = None,
            negative_prompt_3: str | list[str] | None = None,
            num_images_per_prompt: int = 1,
            generator: torch.Generator | list[torch.Generator] | None = None,
            latents: torch.Tensor | None = None,
            prompt_embeds: torch.Tensor | None = None,
            negative_prompt_embeds: torch.Tensor | None = None,
            pooled_prompt_embeds: torch.Tensor | None = None,
            negative_pooled_prompt_embeds: torch.Tensor | None = None,
            output_type: str = "pil",
            return_dict: bool = True,
            joint_attention_kwargs: dict[str, Any] | None = None,
            clip_skip: int | None = None,
            callback_on_step_end: Callable[..., dict] | None = None,
            callback_on_step_end_tensor_inputs: list[str] | None = None,
            max_sequence_length: int = 256,
            mu: float | None = None,
    ) -> Any:
        if image is None:
            raise ValueError("an InstructPix2Pix pipeline needs the image to edit")
        first = image[0] if isinstance(image, list) else image
        default_height, default_width = self.image_processor.get_default_height_width(first)
        height, width = height or default_height, width or default_width
        tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        self.check_inputs(
            prompt, prompt_2, prompt_3, height, width, negative_prompt=negative_prompt,
            negative_prompt_2=negative_prompt_2, negative_prompt_3=negative_prompt_3,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
            pooled_prompt_embeds=pooled_prompt_embeds,
            negative_pooled_prompt_embeds=negative_pooled_prompt_embeds,
            callback_on_step_end_tensor_inputs=tensor_inputs,
            max_sequence_length=max_sequence_length)
        channels = self.vae.config.latent_channels
        expected = self.transformer.config.in_channels
        if expected != 2 * channels:
            raise ValueError(
                f"the transformer takes {expected} input channels; an InstructPix2Pix SD3 "
                f"transformer takes {2 * channels} (the {channels} latent channels of the "
                "noise and of the input image)")
        self._guidance_scale = guidance_scale
        self._image_guidance_scale = image_guidance_scale
        self._clip_skip = clip_skip
        self._joint_attention_kwargs = joint_attention_kwargs
        self._interrupt = False
        # guidance_scale <= 1 runs the conditioned branch alone (the image still conditions)
        guided = self.do_classifier_free_guidance

        if prompt is not None:
            batch = 1 if isinstance(prompt, str) else len(prompt)
        else:
            batch = prompt_embeds.shape[0]
        device = self._execution_device
        lora_scale = (joint_attention_kwargs or {}).get("scale")
        (prompt_embeds, negative_prompt_embeds, pooled_prompt_embeds,
         negative_pooled_prompt_embeds) = self.encode_prompt(
            prompt=prompt, prompt_2=prompt_2, prompt_3=prompt_3, device=device,
            num_images_per_prompt=num_images_per_prompt, do_classifier_free_guidance=guided,
            negative_prompt=negative_prompt, negative_prompt_2=negative_prompt_2,
            negative_prompt_3=negative_prompt_3, prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            pooled_prompt_embeds=pooled_prompt_embeds,
            negative_pooled_prompt_embeds=negative_pooled_prompt_embeds, clip_skip=clip_skip,
            max_sequence_length=max_sequence_length, lora_scale=lora_scale)
        total = batch * num_images_per_prompt

        source = self.image_latents(image, total, height, width, prompt_embeds.dtype, device)
        latents = self.prepare_latents(total, channels, height, width, prompt_embeds.dtype,
                                       device, generator, latents)
        if guided:
            # rows: prompt and image, image alone, neither
            prompt_embeds = torch.cat([prompt_embeds, negative_prompt_embeds,
                                       negative_prompt_embeds])
            pooled_prompt_embeds = torch.cat([pooled_prompt_embeds,
                                              negative_pooled_prompt_embeds,
                                              negative_pooled_prompt_embeds])
            source = torch.cat([source, source, torch.zeros_like(source)])

        shift: dict[str, float] = {}
        if mu is not None:
            shift["mu"] = mu
        elif self.scheduler.config.get("use_dynamic_shifting", None):
            patch = self.transformer.config.patch_size
            tokens = (latents.shape[2] // patch) * (latents.shape[3] // patch)
            config = self.scheduler.config
            shift["mu"] = calculate_shift(tokens, config.get("base_image_seq_len", 256),
                                          config.get("max_image_seq_len", 4096),
                                          config.get("base_shift", 0.5),
                                          config.get("max_shift", 1.16))
        timesteps, num_inference_steps = retrieve_timesteps(
            self.scheduler, num_inference_steps, device, sigmas=sigmas, **shift)
        self._num_timesteps = len(timesteps)

        with self.progress_bar(total=len(timesteps)) as progress:
            for index, timestep in enumerate(timesteps):
                rows = torch.cat([latents] * 3) if guided else latents
                prediction = self.transformer(
                    hidden_states=torch.cat([rows, source], dim=1),
                    timestep=timestep.expand(rows.shape[0]),
                    encoder_hidden_states=prompt_embeds,
                    pooled_projections=pooled_prompt_embeds,
                    joint_attention_kwargs=self._joint_attention_kwargs,
                    return_dict=False)[0]
                if guided:
                    both, image_only, neither = prediction.chunk(3)
                    prediction = (neither + guidance_scale * (both - image_only)
                                  + image_guidance_scale * (image_only - neither))
                dtype = latents.dtype
                latents = self.scheduler.step(prediction, timestep, latents,
                                              return_dict=False)[0].to(dtype)
                if callback_on_step_end is not None:
                    tensors = {"latents": latents, "prompt_embeds": prompt_embeds,
                               "pooled_prompt_embeds": pooled_prompt_embeds}
                    returned = callback_on_step_end(
                        self, index, timestep, {name: tensors[name] for name in tensor_inputs})
                    latents = returned.pop("latents", latents)
                    prompt_embeds = returned.pop("prompt_embeds", prompt_embeds)
                    pooled_prompt_embeds = returned.pop("pooled_prompt_embeds",
                                                        pooled_prompt_embeds)
                progress.update()

        if output_type == "latent":
            images = latents
        else:
            decoded = latents / self.vae.config.scaling_factor + self.vae.config.shift_factor
            pixels = self.vae.decode(decoded.to(self.vae.dtype), return_dict=False)[0]
            images = self.image_processor.postprocess(pixels, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return StableDiffusion3PipelineOutput(images=images)
