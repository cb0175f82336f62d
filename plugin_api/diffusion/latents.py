"""Latents interchange for diffusers families: stopping early, resuming from latents,
decoding tensor inputs with the model's own VAE, and the latents processors around them.

The options are ``--denoising-start`` / ``--denoising-end`` and the three latents
processor options (declared in :mod:`.options`). How each is done:

* **stopping early** (``--denoising-end F``): pipelines that take ``denoising_end``
  (SDXL, Kolors) get it; for the others the step callback interrupts the loop after
  ``round(steps x F)`` steps of the whole schedule, and the pipeline returns the latents
  it has at that point (``output_type="latent"`` when ``--image-format`` is a tensor
  format, else they are decoded as they are, noisy);
* **resuming** (``--denoising-start F`` with ``latents:`` / ``latents=``): the img2img
  pipeline is called with the latents as its image and a strength that makes it start
  at step ``round(steps x F)``; its noising of the image (``add_noise`` /
  ``scale_noise``) is turned off for the call, because the latents carry their noise
  already. Pipelines taking ``denoising_start`` (SDXL, Kolors) get it instead;
* **tensor images** (``"file.pt"`` as the img2img image): decoded by the receiving
  model's VAE, unless the family resumes natively from them with ``--denoising-start``.

Every latents tensor a job receives or returns is (channels, height, width) in the
model's scaled latent space, the space the denoising loop works in.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DgenerateError
from ..render import Job, Mode, RenderRequest
from ..specs import Category
from ..values import split_chain_groups

if TYPE_CHECKING:
    from ..render import RenderContext

__all__ = [
    "PROCESSOR_OPTIONS",
    "apply_processors",
    "check_latents_job",
    "check_latents_request",
    "decode_latents",
    "start_step",
    "strength_starting_at",
    "without_noising",
]

#: the three latents processor options: (value name, flag, what they act on)
PROCESSOR_OPTIONS = (
    ("latents_processors", "--latents-processors", "latents input"),
    ("img2img_latents_processors", "--img2img-latents-processors", "tensor file image"),
    ("latents_post_processors", "--latents-post-processors", "output latents"),
)


def start_step(steps: int, fraction: float) -> int:
    """The step (of ``steps``) where a fraction of the schedule is reached: stage one
    stops and stage two resumes at the same step."""
    return min(steps, max(0, round(steps * fraction)))


def strength_starting_at(steps: int, start: int) -> float:
    """An img2img strength that makes diffusers' pipelines skip exactly ``start`` of
    ``steps`` steps. Some compute the first step as ``steps - int(steps * strength)``,
    others as ``int(steps - steps * strength)``: both agree when ``steps * strength`` is
    exactly ``steps - start``, which one of the floats next to ``(steps - start) / steps``
    gives."""
    wanted = steps - start
    strength = wanted / steps
    for direction in (2.0, -1.0):
        candidate = strength
        for _ in range(8):
            if candidate * steps == wanted:
                return min(1.0, candidate)
            candidate = math.nextafter(candidate, direction)
    return strength


@contextlib.contextmanager
def without_noising(scheduler: Any) -> Iterator[Any]:
    """Turn a scheduler's noising of the img2img image off for one call: latents given
    to resume from are noisy already."""

    def unchanged(sample: Any, *_: Any, **__: Any) -> Any:
        return sample

    names = [name for name in ("add_noise", "scale_noise") if hasattr(scheduler, name)]
    for name in names:
        setattr(scheduler, name, unchanged)
    try:
        yield scheduler
    finally:
        for name in names:
            scheduler.__dict__.pop(name, None)


def check_latents_request(request: RenderRequest, family: str, *,
                          schedulers: Sequence[str] | None,
                          context: RenderContext) -> None:
    """What can be refused before loading: fractions out of order, schedulers that cannot
    stop and resume, processor URIs that do not parse, --latents-post-processors without
    a tensor --image-format."""
    values = request.values
    start, end = values.get("denoising_start"), values.get("denoising_end")
    if start is not None and end is not None and start >= end:
        raise DgenerateError(f"--denoising-start {start:g} must be below --denoising-end "
                             f"{end:g}: the job would take no step")
    if (start is not None or end is not None) and schedulers is not None:
        for uri in request.schedulers:
            name = (uri or "").split(";")[0].strip()
            if name and name.lower() not in ("help", "helpargs") and name not in schedulers:
                flag = "--denoising-start" if start is not None else "--denoising-end"
                raise DgenerateError(
                    f"{flag}: the scheduler {name} cannot stop and resume part way through "
                    f"the schedule with model type {family}; use one of "
                    f"{', '.join(schedulers)}")
    for name, _, _ in PROCESSOR_OPTIONS:
        for uri in values.get(name) or ():
            if uri != "+":
                context.create(Category.LATENTS_PROCESSOR, uri)
    if values.get("latents_post_processors") and not request.latents_output:
        raise DgenerateError("--latents-post-processors work on written latents: give a "
                             "tensor --image-format (pt, pth or safetensors)")


def check_latents_job(job: Job, family: str, *, native: bool) -> None:
    """What needs the job's inputs: --denoising-start needs latents to start from, raw
    latents need --denoising-start (else they would be treated as pure noise)."""
    start = job.values.get("denoising_start")
    if job.latents and start is None:
        raise DgenerateError(
            f"job {job.number}: latents inputs (latents:, latents=) are partly denoised and "
            "need --denoising-start, the fraction of the schedule they stopped at")
    if start is not None and not job.latents and not (native and job.image_latents):
        what = ("a tensor file as the image (latents: for SD families)" if native
                else "latents: or latents= inputs")
        raise DgenerateError(f"job {job.number}: --denoising-start {start:g} resumes "
                             f"denoising from latents; give {what}")
    for name, flag, what in PROCESSOR_OPTIONS[:2]:
        if job.values.get(name) and not (job.latents if name == "latents_processors"
                                         else job.image_latents):
            raise DgenerateError(
                f"job {job.number}: {flag} work on the latents of tensor files, and this job "
                f"has no {what}: " + ("give latents: or latents= in --image-seeds"
                                      if name == "latents_processors" else
                                      "give a tensor file (.pt, .pth, .safetensors) as the "
                                      "image of --image-seeds"))
    if job.latents and job.mode is Mode.INPAINT:
        raise DgenerateError(f"job {job.number}: model type {family} cannot resume "
                             "inpainting from latents= inputs; inpaint the image instead")


def apply_processors(job: Job, context: RenderContext, name: str, tensors: Sequence[Any],
                     pipeline: Any, device: str) -> list[Any]:
    """Run the chains of a latents processor option over ``tensors`` (one chain for all,
    or one per tensor separated by ``+``)."""
    uris = job.values.get(name) or ()
    if not uris:
        return list(tensors)
    flag = next(flag for option, flag, _ in PROCESSOR_OPTIONS if option == name)
    groups = split_chain_groups(list(uris))
    if len(groups) > len(tensors):
        raise DgenerateError(f"{flag}: {len(groups)} processor chains separated by '+' "
                             f"were given for {len(tensors)} latents inputs")
    shared = len(groups) == 1
    processed = []
    for index, tensor in enumerate(tensors):
        chain = groups[0] if shared else (groups[index] if index < len(groups) else [])
        batch = tensor.unsqueeze(0)
        for uri in chain:
            processor = context.create(Category.LATENTS_PROCESSOR, uri, device=device)
            batch = processor(batch, pipeline=pipeline)
        processed.append(batch[0])
    return processed


def decode_latents(pipeline: Any, tensors: Sequence[Any], family: str) -> list[Any]:
    """Tensor images as PIL images, decoded by the pipeline's VAE (scaling and shift
    factors undone); the error names the channel counts when they do not fit."""
    import torch

    vae = pipeline.vae
    channels = vae.config.latent_channels
    images = []
    for tensor in tensors:
        if tensor.shape[0] != channels:
            raise DgenerateError(
                f"a tensor image has {tensor.shape[0]} latent channels and the VAE of model "
                f"type {family} takes {channels}: it comes from another family of models; "
                "convert it with --img2img-latents-processors interposer, or decode it with "
                "the model that wrote it")
        latents = tensor.unsqueeze(0).to(vae.device, vae.dtype)
        latents = latents / vae.config.scaling_factor
        shift = getattr(vae.config, "shift_factor", None)
        if shift is not None:
            latents = latents + shift
        with torch.inference_mode():
            decoded = vae.decode(latents, return_dict=False)[0]
        images.extend(pipeline.image_processor.postprocess(decoded, output_type="pil"))
    return images
