"""Weighted T5 embeddings, as Stable Diffusion 3 and Flux read their T5 encoder (imports
torch).

T5 is not windowed: the pipelines read at most ``max_sequence_length`` tokens (the end
token included) and pad to exactly that length, so the transformer always sees the same
number of T5 tokens. The weighted encoding does the same, then multiplies the hidden
state of each token by its weight, so weights of 1 give the pipeline's tensor bit for bit.

The text without the weighting syntax is tokenized in one piece, not segment by
segment: a sentencepiece tokenizer marks the start of every piece it is given as the
start of a word, so tokenizing ``"red"`` and ``", blue"`` apart would give other tokens
than ``"red, blue"``. Each token takes the weight of the segment its first character is
in (a word glued to a weighted group, ``(red:1.5)dish``, becomes one token with the
group's weight).
"""

from __future__ import annotations

from typing import Any

import torch

from .embeddings import Tokens
from .parser import parse

__all__ = ["encode_t5", "tokenize_t5"]


def tokenize_t5(pipeline: Any, tokenizer: Any, text: str) -> Tokens:
    """Token ids (no end token) and weights of a weighted prompt for a T5 tokenizer."""
    segments = []
    for segment, weight in parse(text):
        if hasattr(pipeline, "maybe_convert_prompt") and any(
                token in segment for token in tokenizer.get_added_vocab()):
            # textual inversion tokens of several vectors: "<token> <token>_1 ..."
            segment = pipeline.maybe_convert_prompt(segment, tokenizer)
        segments.append((segment, weight))
    plain = "".join(segment for segment, _ in segments)
    if not getattr(tokenizer, "is_fast", False):  # no offsets: piece by piece
        tokens = Tokens([], [])
        for segment, weight in segments:
            ids = tokenizer(segment, add_special_tokens=False, verbose=False).input_ids
            tokens.ids.extend(ids)
            tokens.weights.extend([weight] * len(ids))
        return tokens
    encoded = tokenizer(plain, add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)
    ends, position = [], 0
    for segment, weight in segments:
        position += len(segment)
        ends.append((position, weight))
    weights = []
    for start, _ in encoded.offset_mapping:
        weights.append(next((weight for end, weight in ends if start < end), 1.0))
    return Tokens(list(encoded.input_ids), weights)


def encode_t5(encoder: Any, tokenizer: Any, tokens: Tokens, length: int, *,
              device: Any) -> tuple[torch.Tensor, int]:
    """Weighted hidden states ``[1, length, dim]`` and how many prompt tokens did not fit
    (the pipelines drop them too)."""
    room = length - 1  # the end token takes the last place
    dropped = max(0, len(tokens.ids) - room)
    ids = [*tokens.ids[:room], tokenizer.eos_token_id]
    weights = [*tokens.weights[:room], 1.0]
    filler = length - len(ids)
    ids += [tokenizer.pad_token_id] * filler
    weights += [1.0] * filler
    with torch.no_grad():
        hidden = encoder(torch.tensor([ids], device=device))[0]
        factors = torch.tensor(weights, device=hidden.device, dtype=hidden.dtype)
        if bool((factors != 1).any()):
            hidden = hidden * factors[None, :, None]
    return hidden, dropped
