"""The CLIP half of LLM4GEN: the pipeline's own text encoder, plainly or through the
sd-embed or compel weighter (heavy: torch)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["WEIGHTERS", "clip_embeddings"]

WEIGHTERS = ("sd-embed", "compel")


def clip_embeddings(pipeline: Any, prompts: list[str], negatives: list[str | None], *,
                    weighter: Any | None, clip_skip: int | None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) CLIP hidden states of equal length; a missing negative prompt
    is the empty prompt, as the pipelines encode it. ``weighter`` is another prompt
    weighter plugin object (sd-embed, compel), made through the plugin context: its
    embeddings of the same call are the CLIP half."""
    if weighter is not None:
        arguments: dict[str, Any] = {"prompt": list(prompts), "clip_skip": clip_skip,
                                     "negative_prompt": [negative or "" for negative in negatives]}
        try:
            found = weighter.translate(pipeline, arguments)
        finally:
            weighter.cleanup()
        return found["prompt_embeds"], found["negative_prompt_embeds"]
    return (_plain(pipeline, prompts, clip_skip),
            _plain(pipeline, [negative or "" for negative in negatives], clip_skip))


def _plain(pipeline: Any, texts: list[str], clip_skip: int | None) -> torch.Tensor:
    """What the SD pipelines compute: the first 77 tokens, the last layer (or, with
    clip_skip, an earlier one through the final layer norm)."""
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    convert = getattr(pipeline, "maybe_convert_prompt", None)  # textual inversion tokens
    if callable(convert):
        texts = [convert(text, tokenizer) for text in texts]
    tokens = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    device = getattr(pipeline, "_execution_device", None) or encoder.device
    mask = (tokens.attention_mask.to(device)
            if getattr(encoder.config, "use_attention_mask", False) else None)
    with torch.no_grad():
        if not clip_skip:
            return encoder(tokens.input_ids.to(device), attention_mask=mask)[0]
        output = encoder(tokens.input_ids.to(device), attention_mask=mask,
                         output_hidden_states=True)
        return encoder.text_model.final_layer_norm(output.hidden_states[-(clip_skip + 1)])
