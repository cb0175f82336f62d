"""The call arguments of weighted prompts for Stable Diffusion 3, Flux and the Stable
Cascade prior (imports torch)."""

from __future__ import annotations

from typing import Any

import torch

from .embeddings import chunk_count, encode, pooled_output, tokenize
from .t5 import encode_t5, tokenize_t5

__all__ = ["encode_cascade", "encode_flux", "encode_sd3"]


def _t5(pipeline: Any, encoder: Any, tokenizer: Any, text: str, length: int,
        dropped: list[int]) -> torch.Tensor:
    hidden, lost = encode_t5(encoder, tokenizer, tokenize_t5(pipeline, tokenizer, text), length,
                             device=pipeline._execution_device)
    dropped.append(lost)
    return hidden


def encode_sd3(pipeline: Any, prompts: list[str], negatives: list[str | None], *,
               clip_skip: int | None, max_sequence_length: int,
               dropped: list[int]) -> dict[str, torch.Tensor]:
    """Both CLIP encoders side by side (windows of 75 tokens, the pooled embeddings of
    their first windows side by side), padded to the T5 width and followed by the T5
    tokens, as ``StableDiffusion3Pipeline.encode_prompt`` lays them out. Every encoder
    reads the same prompt; a missing negative prompt is the empty prompt. The number of
    T5 tokens each prompt lost to ``max_sequence_length`` is appended to ``dropped``."""
    device = pipeline._execution_device
    clips = [(pipeline.tokenizer, pipeline.text_encoder),
             (pipeline.tokenizer_2, pipeline.text_encoder_2)]
    t5 = getattr(pipeline, "text_encoder_3", None)
    results: dict[str, list[torch.Tensor]] = {}
    for prompt, negative in zip(prompts, negatives, strict=True):
        texts = {"": prompt, "negative_": negative or ""}
        tokens = {key: [tokenize(pipeline, tokenizer, text) for tokenizer, _ in clips]
                  for key, text in texts.items()}
        count = max(chunk_count(each, tokenizer) for key in tokens
                    for each, (tokenizer, _) in zip(tokens[key], clips, strict=True))
        for key, text in texts.items():
            states, pools = [], []
            for each, (tokenizer, encoder) in zip(tokens[key], clips, strict=True):
                # clip_skip for the negative prompt too, as the SDXL encoding here does
                state, pool = encode(encoder, tokenizer, each, count, device=device,
                                     clip_skip=clip_skip, layer="penultimate")
                states.append(state)
                pools.append(pool)
            clip = torch.cat(states, dim=-1)
            if t5 is None:  # a model without T5: zeros, as the pipeline gives
                t5_state = torch.zeros((1, max_sequence_length,
                                        pipeline.transformer.config.joint_attention_dim),
                                       device=device, dtype=clip.dtype)
            else:
                t5_state = _t5(pipeline, t5, pipeline.tokenizer_3, text,
                               max_sequence_length, dropped if key == "" else [])
            clip = torch.nn.functional.pad(clip, (0, t5_state.shape[-1] - clip.shape[-1]))
            results.setdefault(f"{key}prompt_embeds", []).append(
                torch.cat([clip, t5_state], dim=-2))
            results.setdefault(f"{key}pooled_prompt_embeds", []).append(
                torch.cat(pools, dim=-1))
    return {name: torch.cat(values) for name, values in results.items()}


def encode_flux(pipeline: Any, prompts: list[str], prompts_2: list[str | None], *,
                max_sequence_length: int, dropped: list[int]) -> dict[str, torch.Tensor]:
    """``prompt_embeds`` from the T5 encoder (weighted, ``max_sequence_length`` tokens) and
    ``pooled_prompt_embeds`` from the first window of the CLIP encoder. As the Flux
    pipelines route them, ``prompt`` goes to CLIP and ``prompt_2`` (the prompt when not
    given) to T5; weights count in the T5 prompt only (the CLIP encoder contributes just
    its pooled vector), the syntax is removed from both."""
    device = pipeline._execution_device
    embeds, pools = [], []
    for prompt, prompt_2 in zip(prompts, prompts_2, strict=True):
        tokens = tokenize(pipeline, pipeline.tokenizer, prompt)
        pool = pooled_output(pipeline.text_encoder, pipeline.tokenizer, tokens, device=device)
        pools.append(pool.to(pipeline.text_encoder.dtype))
        embeds.append(_t5(pipeline, pipeline.text_encoder_2, pipeline.tokenizer_2,
                          prompt_2 or prompt, max_sequence_length, dropped))
    return {"prompt_embeds": torch.cat(embeds), "pooled_prompt_embeds": torch.cat(pools)}


def encode_cascade(pipeline: Any, prompts: list[str], negatives: list[str | None], *,
                   clip_skip: int | None) -> dict[str, torch.Tensor]:
    """The Stable Cascade prior's CLIP (bigG) embeddings: the last layer's hidden states
    (windows of 75 tokens, with the tokenizer's attention mask) and the projected pooled
    embedding of the first window, ``[1, 1, dim]``; a missing negative prompt is the
    empty prompt, as the pipeline encodes it."""
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    device = pipeline._execution_device
    results: dict[str, list[torch.Tensor]] = {}
    for prompt, negative in zip(prompts, negatives, strict=True):
        texts = {"prompt_embeds": prompt, "negative_prompt_embeds": negative or ""}
        tokens = {key: tokenize(pipeline, tokenizer, text) for key, text in texts.items()}
        count = max(chunk_count(each, tokenizer) for each in tokens.values())
        for key, each in tokens.items():
            state, pool = encode(encoder, tokenizer, each, count, device=device,
                                 clip_skip=clip_skip, layer="last", masked=True)
            results.setdefault(key, []).append(state)
            results.setdefault(f"{key}_pooled", []).append(pool[:, None])
    return {name: torch.cat(values) for name, values in results.items()}
