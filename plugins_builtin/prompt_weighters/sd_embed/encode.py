"""The call arguments of weighted prompts, the Stable Diffusion 1/2 and XL ways."""

from __future__ import annotations

from typing import Any

import torch

from .embeddings import chunk_count, encode, tokenize

__all__ = ["encode_sd", "encode_sdxl"]


def encode_sd(pipeline: Any, prompts: list[str], negatives: list[str | None], *,
              clip_skip: int | None) -> dict[str, torch.Tensor]:
    """``prompt_embeds`` and ``negative_prompt_embeds`` of equal length (a missing
    negative prompt is the empty prompt, as the pipelines encode it)."""
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    device = pipeline._execution_device
    positive, negative = [], []
    for prompt, negative_prompt in zip(prompts, negatives, strict=True):
        tokens = tokenize(pipeline, tokenizer, prompt)
        negative_tokens = tokenize(pipeline, tokenizer, negative_prompt or "")
        count = max(chunk_count(tokens, tokenizer), chunk_count(negative_tokens, tokenizer))
        for into, which in ((positive, tokens), (negative, negative_tokens)):
            into.append(encode(encoder, tokenizer, which, count, device=device,
                               clip_skip=clip_skip, layer="final")[0])
    return {"prompt_embeds": torch.cat(positive), "negative_prompt_embeds": torch.cat(negative)}


def encode_sdxl(pipeline: Any, prompts: list[str], negatives: list[str | None],
                prompts_2: list[str | None], negatives_2: list[str | None], *,
                clip_skip: int | None) -> dict[str, torch.Tensor]:
    """The embeddings of both text encoders side by side, the pooled ones from the
    second; zeros for a missing negative prompt when the model asks for it
    (``force_zeros_for_empty_prompt``), as the pipeline does."""
    pairs = [(tokenizer, encoder) for tokenizer, encoder in
             ((getattr(pipeline, "tokenizer", None), getattr(pipeline, "text_encoder", None)),
              (pipeline.tokenizer_2, pipeline.text_encoder_2)) if encoder is not None]
    zeros = bool(getattr(pipeline.config, "force_zeros_for_empty_prompt", False))
    device = pipeline._execution_device
    results: dict[str, list[torch.Tensor]] = {}
    for prompt, negative, prompt_2, negative_2 in zip(prompts, negatives, prompts_2,
                                                      negatives_2, strict=True):
        zero_negative = negative is None and zeros
        negative = negative or ""
        texts = {"": (prompt, prompt_2 or prompt),
                 "negative_": (negative, negative_2 or negative)}
        # the first prompt to the first encoder, the second to the second (a refiner,
        # with the second encoder only, gets the first prompt, as in diffusers)
        tokens = {key: [tokenize(pipeline, tokenizer, pair[index])
                        for index, (tokenizer, _) in enumerate(pairs)]
                  for key, pair in texts.items()}
        count = max(chunk_count(each, tokenizer) for key in tokens
                    for each, (tokenizer, _) in zip(tokens[key], pairs, strict=True))
        for key in texts:
            states, pooled = [], None
            # clip_skip applies to the negative prompt too (the pipeline's own encoding
            # skips layers of the positive one only, which looks like an oversight)
            for each, (tokenizer, encoder) in zip(tokens[key], pairs, strict=True):
                state, pool = encode(encoder, tokenizer, each, count, device=device,
                                     clip_skip=clip_skip, layer="penultimate")
                states.append(state)
                pooled = pool if pool is not None else pooled
            hidden = torch.cat(states, dim=-1)
            if key == "negative_" and zero_negative:
                hidden, pooled = torch.zeros_like(hidden), torch.zeros_like(pooled)
            results.setdefault(f"{key}prompt_embeds", []).append(hidden)
            results.setdefault(f"{key}pooled_prompt_embeds", []).append(pooled)
    return {name: torch.cat(values) for name, values in results.items()}

