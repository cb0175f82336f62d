"""Prompt texts to embeddings with compel, the way each family's pipeline expects them."""

from __future__ import annotations

from typing import Any

from compel import (
    Compel,
    CompelForSDXL,
    DiffusersTextualInversionManager,
    ReturnedEmbeddingsType,
)

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.diffusion.compat import patch_text_encoders

__all__ = ["encode"]

_PROMPT_KEYS = ("prompt", "negative_prompt", "prompt_2", "negative_prompt_2")


def encode(pipeline: Any, arguments: dict[str, Any], model_type: str) -> dict[str, Any]:
    """Return ``arguments`` with the prompt texts replaced by compel's embeddings."""
    texts = {key: arguments.pop(key, None) for key in _PROMPT_KEYS}
    clip_skip = arguments.pop("clip_skip", None) or 0
    device = str(getattr(pipeline, "_execution_device", None) or pipeline.text_encoder.device)
    if model_type == "sdxl":
        arguments.update(_sdxl(pipeline, texts, clip_skip, device))
    else:
        arguments.update(_sd(pipeline, texts, clip_skip, device))
    return arguments


def _sd(pipeline: Any, texts: dict[str, Any], clip_skip: int, device: str) -> dict[str, Any]:
    layers = {0: ReturnedEmbeddingsType.LAST_HIDDEN_STATES_NORMALIZED,
              1: ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NORMALIZED}
    if clip_skip not in layers:
        raise DgenerateError(f"--clip-skips {clip_skip} cannot be used with --prompt-weighter "
                             "compel on sd: compel reads the last or the penultimate layer "
                             "only (--clip-skips 0 or 1)")
    patch_text_encoders(pipeline)  # the penultimate layer is normalized through text_model
    compel = Compel(tokenizer=pipeline.tokenizer, text_encoder=pipeline.text_encoder,
                    textual_inversion_manager=DiffusersTextualInversionManager(pipeline),
                    returned_embeddings_type=layers[clip_skip], truncate_long_prompts=False,
                    device=device)
    positive = texts["prompt"]
    # like the pipeline: no negative prompt is the empty one
    negative = texts["negative_prompt"] or [""] * len(positive)
    embeds = compel(positive)
    negative_embeds = compel(negative)
    embeds, negative_embeds = compel.pad_conditioning_tensors_to_same_length(
        [embeds, negative_embeds])
    return {"prompt_embeds": embeds, "negative_prompt_embeds": negative_embeds}


def _sdxl(pipeline: Any, texts: dict[str, Any], clip_skip: int, device: str) -> dict[str, Any]:
    if clip_skip:
        raise DgenerateError(f"--clip-skips {clip_skip} cannot be used with --prompt-weighter "
                             "compel on sdxl: compel reads the penultimate layer only")
    if pipeline.text_encoder is None or pipeline.text_encoder_2 is None:
        raise DgenerateError("--prompt-weighter compel needs both text encoders of an SDXL "
                             "model; this one lacks one")
    compel = CompelForSDXL(pipeline, DiffusersTextualInversionManager(pipeline), device=device)
    negative, negative_2 = texts["negative_prompt"], texts["negative_prompt_2"]
    zeros = negative is None and negative_2 is None and getattr(
        pipeline.config, "force_zeros_for_empty_prompt", False)
    if not zeros:
        # compel pads these to the positive length in the same batch
        count = len(texts["prompt"])
        negative = negative or [""] * count
    result = compel(texts["prompt"], texts["prompt_2"], negative, negative_2)
    arguments = {"prompt_embeds": result.embeds,
                 "pooled_prompt_embeds": result.pooled_embeds}
    if result.negative_embeds is not None:
        # with force_zeros_for_empty_prompt and no negative prompt the pipeline
        # makes zero negative embeddings itself, as it does without a weighter
        arguments.update(negative_prompt_embeds=result.negative_embeds,
                         negative_pooled_prompt_embeds=result.negative_pooled_embeds)
    return arguments
