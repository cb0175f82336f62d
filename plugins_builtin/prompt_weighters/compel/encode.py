"""Prompt texts to embeddings with compel, the way each family's pipeline expects them.

Every family reads its text encoders in its own way (which layer, normalized or not, which
encoder gives the pooled vector, how long the sequence is); each function here mirrors
the ``encode_prompt`` of the family's diffusers pipelines, so an unweighted prompt gives
the embeddings the pipeline would have made itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compel import (
    Compel,
    CompelForSDXL,
    DiffusersTextualInversionManager,
    ReturnedEmbeddingsType,
)

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.diffusion.compat import patch_text_encoders

__all__ = ["FAMILIES", "encode"]

_PROMPT_KEYS = ("prompt", "negative_prompt", "prompt_2", "negative_prompt_2")
#: the T5 tokens Flux pipelines read when not told (their max_sequence_length default)
_FLUX_SEQUENCE = 512

Warn = Callable[[str], None]


def encode(pipeline: Any, arguments: dict[str, Any], model_type: str,
           warn: Warn | None = None) -> dict[str, Any]:
    """Return ``arguments`` with the prompt texts replaced by compel's embeddings;
    ``warn`` tells the user about prompts the family's encoders cannot take."""
    texts = {key: arguments.pop(key, None) for key in _PROMPT_KEYS}
    clip_skip = arguments.pop("clip_skip", None) or 0
    encoder = getattr(pipeline, "text_encoder", None) or pipeline.text_encoder_2
    device = str(getattr(pipeline, "_execution_device", None) or encoder.device)
    family = FAMILIES[model_type]
    arguments.update(family(pipeline, texts, clip_skip, device, arguments,
                            warn or (lambda message: None)))
    return arguments


def _sd(pipeline: Any, texts: dict[str, Any], clip_skip: int, device: str,
        arguments: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """Stable Diffusion 1/2 and its InstructPix2Pix and x4 upscaler: one CLIP encoder."""
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


def _inversions(pipeline: Any) -> DiffusersTextualInversionManager | None:
    """compel's view of the pipeline's textual inversions, for pipelines that load them."""
    if not hasattr(pipeline, "maybe_convert_prompt"):
        return None
    return DiffusersTextualInversionManager(pipeline)


def _zeros(pipeline: Any, texts: dict[str, Any]) -> bool:
    """No negative prompt, and the pipeline makes zero negative embeddings itself."""
    return texts["negative_prompt"] is None and texts["negative_prompt_2"] is None and getattr(
        pipeline.config, "force_zeros_for_empty_prompt", False)


def _sdxl(pipeline: Any, texts: dict[str, Any], clip_skip: int, device: str,
          arguments: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """SDXL (and its InstructPix2Pix): two CLIP encoders side by side, the pooled vector
    from the second; the refiner has the second one only."""
    if clip_skip:
        raise DgenerateError(f"--clip-skips {clip_skip} cannot be used with --prompt-weighter "
                             "compel on sdxl: compel reads the penultimate layer only")
    if pipeline.text_encoder_2 is None:
        raise DgenerateError("--prompt-weighter compel needs the second text encoder of an "
                             "SDXL model; this one lacks it")
    if pipeline.text_encoder is None:
        return _sdxl_refiner(pipeline, texts, device, warn)
    compel = CompelForSDXL(pipeline, DiffusersTextualInversionManager(pipeline), device=device)
    negative, negative_2 = texts["negative_prompt"], texts["negative_prompt_2"]
    if not _zeros(pipeline, texts):
        # compel pads these to the positive length in the same batch
        negative = negative or [""] * len(texts["prompt"])
    result = compel(texts["prompt"], texts["prompt_2"], negative, negative_2)
    return _pair(result.embeds, result.pooled_embeds, result.negative_embeds,
                 result.negative_pooled_embeds)


def _pair(embeds: Any, pooled: Any, negative: Any, negative_pooled: Any) -> dict[str, Any]:
    found = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    if negative is not None:
        # with force_zeros_for_empty_prompt and no negative prompt the pipeline makes
        # zero negative embeddings itself, as it does without a weighter
        found.update(negative_prompt_embeds=negative, negative_pooled_prompt_embeds=negative_pooled)
    return found


def _sdxl_refiner(pipeline: Any, texts: dict[str, Any], device: str,
                  warn: Warn) -> dict[str, Any]:
    """The SDXL refiner: its one encoder (OpenCLIP-G) reads the primary prompt, as its
    pipeline does; second prompts have nowhere to go."""
    if texts["prompt_2"] is not None or texts["negative_prompt_2"] is not None:
        warn("--prompt-weighter compel: the SDXL refiner has one text encoder, which reads "
             "the refiner's primary prompt; --second-model-second-prompts is ignored")
    compel = Compel(tokenizer=pipeline.tokenizer_2, text_encoder=pipeline.text_encoder_2,
                    returned_embeddings_type=ReturnedEmbeddingsType.
                    PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED,
                    truncate_long_prompts=False, requires_pooled=True, device=device)
    positive = texts["prompt"]
    embeds, pooled = compel(positive)
    if _zeros(pipeline, texts):
        return _pair(embeds, pooled, None, None)
    negative, negative_pooled = compel(texts["negative_prompt"] or [""] * len(positive))
    embeds, negative = compel.pad_conditioning_tensors_to_same_length([embeds, negative])
    return _pair(embeds, pooled, negative, negative_pooled)


class _LastLayer:
    """A CLIP text encoder whose ``last_hidden_state`` is its last layer before the final
    norm (what Stable Cascade reads), for compel, which reads ``last_hidden_state``."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    @property
    def device(self) -> Any:
        return self.encoder.device

    @property
    def dtype(self) -> Any:
        return self.encoder.dtype

    def __call__(self, token_ids: Any, attention_mask: Any = None, **_: Any) -> Any:
        output = self.encoder(token_ids, attention_mask, output_hidden_states=True,
                              return_dict=True)
        output.last_hidden_state = output.hidden_states[-1]
        return output


def _cascade(pipeline: Any, texts: dict[str, Any], clip_skip: int, device: str,
             arguments: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """Stable Cascade (prior and decoder): one CLIP-G encoder, its last layer unnormalized
    and its projected pooled vector, padding masked out as the pipelines mask it.

    The pooled vector is read from the prompt with the weighting syntax taken out (compel's
    ``requires_pooled`` would read the syntax characters as words); the decoder reads only
    this vector, so for it the weighter parses the syntax but weights cannot act.
    """
    inversions = _inversions(pipeline)
    compel = Compel(tokenizer=pipeline.tokenizer, text_encoder=_LastLayer(pipeline.text_encoder),
                    textual_inversion_manager=inversions, truncate_long_prompts=False,
                    padding_attention_mask_value=0, device=device)
    pooled = Compel(tokenizer=pipeline.tokenizer, text_encoder=pipeline.text_encoder,
                    returned_embeddings_type=ReturnedEmbeddingsType.POOLED,
                    textual_inversion_manager=inversions, truncate_long_prompts=True,
                    device=device)
    positive = texts["prompt"]
    negative = texts["negative_prompt"] or [""] * len(positive)
    embeds, negative_embeds = compel.pad_conditioning_tensors_to_same_length(
        [compel(positive), compel(negative)])
    return {"prompt_embeds": embeds, "prompt_embeds_pooled": pooled(positive).unsqueeze(1),
            "negative_prompt_embeds": negative_embeds,
            "negative_prompt_embeds_pooled": pooled(negative).unsqueeze(1)}


def _flux(pipeline: Any, texts: dict[str, Any], clip_skip: int, device: str,
          arguments: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """Flux (Fill, Kontext): T5 gives the token sequence, CLIP the pooled vector.

    The primary prompt goes to T5, where the weights act; the second prompt (by default
    the primary one) to CLIP's pooled vector. T5 reads ``max_sequence_length`` tokens,
    padded and truncated as the pipelines do.
    """
    length = arguments.get("max_sequence_length") or _FLUX_SEQUENCE
    sequence = Compel(tokenizer=pipeline.tokenizer_2, text_encoder=pipeline.text_encoder_2,
                      truncate_long_prompts=True, model_max_length=length, device=device)
    pooled = Compel(tokenizer=pipeline.tokenizer, text_encoder=pipeline.text_encoder,
                    returned_embeddings_type=ReturnedEmbeddingsType.POOLED,
                    textual_inversion_manager=_inversions(pipeline),
                    truncate_long_prompts=True, device=device)
    positive = texts["prompt"]
    found = {"prompt_embeds": sequence(positive),
             "pooled_prompt_embeds": pooled(texts["prompt_2"] or positive)}
    negative = texts["negative_prompt"]
    if negative is not None:  # Kontext's true classifier-free guidance
        found.update(negative_prompt_embeds=sequence(negative),
                     negative_pooled_prompt_embeds=pooled(texts["negative_prompt_2"] or negative))
    return found


#: the model types compel weighs, with the function that encodes their prompts
FAMILIES = {
    "sd": _sd, "pix2pix": _sd, "upscaler-x4": _sd,
    "sdxl": _sdxl, "sdxl-pix2pix": _sdxl,
    "s-cascade": _cascade,
    "flux": _flux, "flux-fill": _flux, "flux-kontext": _flux,
}
