"""Names Automatic1111 (and CivitAI, which reads its metadata) gives diffusers' schedulers."""

from __future__ import annotations

__all__ = ["A1111_SAMPLERS", "a1111_sampler"]

A1111_SAMPLERS = {
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE",
    "DPMSolverSDEScheduler": "DPM++ SDE",
    "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a",
    "HeunDiscreteScheduler": "Heun",
    "LMSDiscreteScheduler": "LMS",
    "DDIMScheduler": "DDIM",
    "DDPMScheduler": "DDPM",
    "PNDMScheduler": "PLMS",
    "UniPCMultistepScheduler": "UniPC",
    "DEISMultistepScheduler": "DEIS",
    "LCMScheduler": "LCM",
}


def a1111_sampler(scheduler_class: str) -> str:
    """The sampler name of ``--output-auto1111-metadata`` for a scheduler class name."""
    return A1111_SAMPLERS.get(scheduler_class, scheduler_class)
