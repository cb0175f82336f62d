"""The ``noise`` latents processor (light to import: torch and diffusers are imported when
it runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from dgenerate.plugin_api import Arg, DgenerateError, LatentsProcessor, PluginArgumentError

if TYPE_CHECKING:
    import torch

__all__ = ["Noise"]

_SEED_LIMIT = 2**64  # torch.Generator.manual_seed takes 0 to 2**64 - 1


class Noise(LatentsProcessor):
    """Add the noise of a diffusion timestep to latents.

    The latents become what the forward (noising) process of diffusion makes of
    them at that timestep, so that a pipeline can denoise them again: use it on
    fully denoised latents given as img2img input, or to add variation to raw
    latents before --denoising-start continues from them.

    timestep: the training timestep whose amount of noise is added, from 0
    (almost none) up to the number of training timesteps of the scheduler minus
    one (999 for nearly every model), which leaves almost pure noise (default
    100). The noise comes from the scheduler of the pipeline the latents are
    used with: schedulers of the DDPM family (DDIM, Euler, DPM-Solver ... on
    Stable Diffusion and SDXL) mix latents and noise with their add_noise; flow
    matching schedulers (SD3, Flux) interpolate linearly towards the noise with
    sigma = timestep / training timesteps (sigma 0.1 at timestep 100), the forward
    process of their scale_noise. Without a pipeline (for example on latents
    written by --latents-post-processors) a DDPMScheduler with its default
    linear betas is used.

    seed: the seed of the random noise. Given, every call adds the same noise to
    latents of the same shape, so renders are reproducible; omitted, the noise
    differs every time. The noise is drawn on the CPU in float32, so a seed gives
    the same noise on every device.
    """

    def __init__(
        self,
        *,
        timestep: Annotated[
            int, Arg(help="training timestep whose noise is added: 0 to 999 usually")] = 100,
        seed: Annotated[
            int | None, Arg(help="seed of the noise; omitted: different each time")] = None,
        device: Annotated[str, Arg(hidden=True)] = "cpu",
        model_offload: Annotated[bool, Arg(hidden=True)] = False,
    ) -> None:
        super().__init__(device=device, model_offload=model_offload)
        if isinstance(timestep, bool) or not isinstance(timestep, int) or timestep < 0:
            raise PluginArgumentError(
                f"noise: timestep={timestep!r} is not a timestep; give a whole number from 0 "
                "to the number of training timesteps of the scheduler minus one (999 for "
                "most models)")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or not 0 <= seed < _SEED_LIMIT):
            raise PluginArgumentError(
                f"noise: seed={seed!r} is not a seed; give a whole number from 0 to "
                f"{_SEED_LIMIT - 1}, or omit it for different noise each time")
        self.timestep = timestep
        self.seed = seed

    def process(self, latents: torch.Tensor, *, pipeline: Any = None) -> torch.Tensor:
        scheduler = _scheduler_of(pipeline)
        total = int(getattr(scheduler.config, "num_train_timesteps", 1000))
        if self.timestep >= total:
            raise PluginArgumentError(
                f"noise: timestep={self.timestep} is beyond the {total} training timesteps of "
                f"{type(scheduler).__name__}; give 0 to {total - 1}")
        work = latents.float()
        noise = self._noise(latents).to(work.device)
        if _is_flow_matching(scheduler):
            sigma = self.timestep / total
            noisy = sigma * noise + (1.0 - sigma) * work
        else:
            noisy = _add_noise(scheduler, work, noise, self.timestep)
        return noisy.to(latents.dtype)

    def _noise(self, latents: torch.Tensor) -> torch.Tensor:
        import torch

        generator = None
        if self.seed is not None:
            generator = torch.Generator(device="cpu").manual_seed(self.seed)
        return torch.randn(tuple(latents.shape), generator=generator, dtype=torch.float32)


def _scheduler_of(pipeline: Any) -> Any:
    scheduler = getattr(pipeline, "scheduler", None)
    if scheduler is None or not hasattr(scheduler, "config"):
        from diffusers import DDPMScheduler

        return DDPMScheduler()
    return scheduler


def _is_flow_matching(scheduler: Any) -> bool:
    return callable(getattr(scheduler, "scale_noise", None)) and not callable(
        getattr(scheduler, "add_noise", None))


def _add_noise(scheduler: Any, latents: torch.Tensor, noise: torch.Tensor,
               timestep: int) -> torch.Tensor:
    """``add_noise`` of a fresh copy of the scheduler: the pipeline's own one carries the
    state of its last run (a begin index, a shortened schedule) that add_noise would obey
    instead of the timestep asked for."""
    import torch

    name = type(scheduler).__name__
    if not callable(getattr(scheduler, "add_noise", None)):
        raise DgenerateError(
            f"noise: the pipeline's scheduler {name} can neither add noise (add_noise) nor "
            "scale noise (scale_noise); use another --scheduler")
    try:
        fresh = type(scheduler).from_config(scheduler.config)
        timesteps = torch.full((latents.shape[0],), timestep, dtype=torch.long,
                               device=latents.device)
        return fresh.add_noise(latents, noise, timesteps)
    except (IndexError, KeyError, RuntimeError, TypeError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DgenerateError(
            f"noise: the scheduler {name} cannot add noise at timestep={timestep}: "
            f"{reason}") from None
