"""Kolors on diffusers' KolorsPipeline / KolorsImg2ImgPipeline."""

from __future__ import annotations

import warnings
from typing import Any

from dgenerate.plugin_api import Mode
from dgenerate.plugin_api.diffusion import DiffusersModelType

_HERE = __name__.rpartition(".")[0]


class Kolors(DiffusersModelType):
    """Kolors: an SDXL-like UNet conditioned by a ChatGLM text encoder.

    txt2img without --image-seeds, img2img with an image (diffusers has no Kolors
    inpainting pipeline, so masks are refused). The img2img pipeline is built from
    the loaded one and shares its modules; so are the ControlNet pipelines of
    ``--control-nets`` (ours, in .controlnet: diffusers has none). Native size
    1024x1024. The ChatGLM tokenizer needs the ``sentencepiece`` package. Kolors
    models load from diffusers folders and Hugging Face repositories (diffusers reads
    no single-file Kolors checkpoints).
    """

    latents_native = True  # the pipelines take denoising_start / denoising_end
    pipelines = {
        Mode.TXT2IMG: "KolorsPipeline",
        Mode.IMG2IMG: "KolorsImg2ImgPipeline",
    }
    #: diffusers has no Kolors ControlNet pipelines: ours (.controlnet) guide the Kolors ones
    variant_pipelines = {
        "controlnet": {
            Mode.TXT2IMG: f"{_HERE}.controlnet:KolorsControlNetPipeline",
            Mode.IMG2IMG: f"{_HERE}.controlnet:KolorsControlNetImg2ImgPipeline",
        },
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.context.verbose:
            _import_quietly()


def _import_quietly() -> None:
    """Import diffusers' Kolors modules without the FutureWarning torch gives for the
    ``torch.jit.script`` in its ChatGLM code (not ours to fix, and shown on every run)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script", category=FutureWarning)
        import diffusers.pipelines.kolors.text_encoder  # noqa: F401
