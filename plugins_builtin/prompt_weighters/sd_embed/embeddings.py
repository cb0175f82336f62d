"""Weighted embeddings of any length from CLIP text encoders (imports torch).

A prompt is tokenized segment by segment (see :mod:`.parser`), each token carrying its
segment's weight. The tokens are cut into windows of ``model_max_length - 2`` (75 for
CLIP); each window gets the begin and end tokens and the tokenizer's padding, exactly
as the pipelines build their single window, is encoded on its own, and the hidden
states of the windows are concatenated. A prompt that fits one window therefore gives
the very tensor the pipeline computes without a weighter.

Weights scale the hidden state of their tokens and nothing else: no renormalisation
of the whole sequence afterwards (Web UI rescales to keep the mean). Renormalising
would shift every token as soon as one is weighted, so ``(red:1.2)`` would also change
"ball"; plain scaling keeps the effect where the user put it, and a prompt whose
weights are all 1 gives the unweighted embeddings bit for bit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from .parser import parse

__all__ = ["LAYERS", "Tokens", "chunk_count", "encode", "pad_chunks", "pooled_output",
           "tokenize"]


@dataclasses.dataclass
class Tokens:
    """A prompt's token ids (no special tokens) and the weight of each."""

    ids: list[int]
    weights: list[float]


def tokenize(pipeline: Any, tokenizer: Any, text: str) -> Tokens:
    """Token ids and weights of a weighted prompt, textual inversion tokens expanded."""
    tokens = Tokens([], [])
    special = set(tokenizer.all_special_tokens)
    added = [token for token in tokenizer.get_added_vocab() if token not in special]
    for segment, weight in parse(text):
        # multi-vector textual inversions: "<token>" becomes "<token> <token>_1 ...";
        # asked only when one may be there (the conversion warns about long prompts)
        if hasattr(pipeline, "maybe_convert_prompt") and any(
                token in segment for token in added):
            segment = pipeline.maybe_convert_prompt(segment, tokenizer)
        ids = tokenizer(segment, add_special_tokens=False, truncation=False,
                        verbose=False).input_ids
        tokens.ids.extend(ids)
        tokens.weights.extend([weight] * len(ids))
    return tokens


def _inner(tokenizer: Any) -> int:
    return tokenizer.model_max_length - 2


def chunk_count(tokens: Tokens, tokenizer: Any) -> int:
    """How many windows the tokens need (one at least: an empty prompt is one window)."""
    return max(1, -(-len(tokens.ids) // _inner(tokenizer)))


def pad_chunks(tokenizer: Any, tokens: Tokens, count: int) -> tuple[list[list[int]],
                                                                  list[list[float]]]:
    """The windows of ``tokens``, ``count`` of them (empty windows added at the end)."""
    inner, window = _inner(tokenizer), tokenizer.model_max_length
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
        tokenizer.eos_token_id)
    ids, weights = [], []
    for index in range(count):
        part = tokens.ids[index * inner:(index + 1) * inner]
        part_weights = tokens.weights[index * inner:(index + 1) * inner]
        filler = window - len(part) - 2
        ids.append([tokenizer.bos_token_id, *part, tokenizer.eos_token_id, *[pad] * filler])
        weights.append([1.0, *part_weights, 1.0, *[1.0] * filler])
    return ids, weights


LAYERS = ("final", "penultimate", "last")
"""Which hidden state :func:`encode` returns, see there."""


def encode(encoder: Any, tokenizer: Any, tokens: Tokens, count: int, *, device: Any,
           clip_skip: int | None, layer: str = "final",
           masked: bool | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weighted hidden states ``[1, count * window, dim]`` and the pooled embedding of
    the first window (``None`` when the encoder has no projection).

    :param layer: ``"final"``, the SD 1/2 way (last hidden state after the final norm,
        or ``clip_skip`` layers earlier, normed); ``"penultimate"``, the SDXL and SD3
        way (hidden states before the last layer, no final norm, ``clip_skip`` counted
        from there); ``"last"``, the Stable Cascade way (the last layer's output before
        the final norm, ``clip_skip`` counted from there).
    :param masked: pass the attention mask the tokenizer would (Stable Cascade does);
        by default when the encoder's config asks for it.
    """
    if layer not in LAYERS:
        raise ValueError(f"layer {layer!r} is not one of {LAYERS}")
    ids, weights = pad_chunks(tokenizer, tokens, count)
    if masked is None:
        masked = getattr(encoder.config, "use_attention_mask", False)
    states, pooled = [], None
    with torch.no_grad():
        for chunk in ids:
            chunk_ids = torch.tensor([chunk], device=device)
            mask = None
            if masked:  # ones up to the end token, as the tokenizer's attention mask
                end = chunk.index(tokenizer.eos_token_id)
                mask = (torch.arange(len(chunk), device=device) <= end).long()[None]
            output = encoder(chunk_ids, attention_mask=mask, output_hidden_states=True)
            if pooled is None and output[0].ndim == 2:  # text_embeds of a projection
                pooled = output[0]
            if layer == "penultimate":
                state = output.hidden_states[-((clip_skip or 0) + 2)]
            elif layer == "last":
                state = output.hidden_states[-((clip_skip or 0) + 1)]
            elif clip_skip is None:
                state = output[0]
            else:
                # transformers 5 dropped the text_model level of CLIPTextModel
                model = getattr(encoder, "text_model", encoder)
                state = model.final_layer_norm(output.hidden_states[-(clip_skip + 1)])
            states.append(state)
        hidden = torch.cat(states, dim=1)
        factors = torch.tensor([value for chunk in weights for value in chunk],
                               device=hidden.device, dtype=hidden.dtype)
        if bool((factors != 1).any()):
            hidden = hidden * factors[None, :, None]
    return hidden, pooled


def pooled_output(encoder: Any, tokenizer: Any, tokens: Tokens, *,
                  device: Any) -> torch.Tensor:
    """The pooled output ``[1, dim]`` of the first window, as Flux reads its CLIP encoder
    (weights play no part: the pooled vector is taken at the end token, not per word)."""
    [chunk], _ = pad_chunks(tokenizer, tokens, 1)
    with torch.no_grad():
        output = encoder(torch.tensor([chunk], device=device), output_hidden_states=False)
    pooler = getattr(output, "pooler_output", None)
    return pooler if pooler is not None else output.text_embeds  # a projection model
