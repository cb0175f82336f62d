"""The ``sd-embed`` prompt weighter (light at import: torch is loaded on first use)."""

from __future__ import annotations

from typing import Annotated, Any

from dgenerate.plugin_api import PromptWeighter
from dgenerate.plugin_api.args import Arg
from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["SD_TYPES", "XL_TYPES", "SdEmbed"]

SD_TYPES = ("sd", "pix2pix", "upscaler-x4")
"""Model types encoding with one CLIP text encoder, the Stable Diffusion 1/2 way."""
XL_TYPES = ("sdxl", "sdxl-pix2pix")
"""Model types encoding with the two CLIP text encoders of Stable Diffusion XL."""


class SdEmbed(PromptWeighter):
    """Stable Diffusion Web UI prompt weighting and prompts of any length, for Stable
    Diffusion 1/2 (sd, pix2pix, upscaler-x4) and Stable Diffusion XL (sdxl,
    sdxl-pix2pix).

    Syntax: "(word)" multiplies the attention on word by 1.1 and "[word]" divides it
    by 1.1, nesting multiplies, "((word))" is 1.21; "(word:1.5)" gives an explicit
    weight; "\\(" and "\\)" are literal parentheses. An unbalanced bracket is kept as
    text.

    Prompts longer than the text encoder's 77-token window are not truncated: they
    are encoded in windows of 75 tokens which are concatenated; the negative prompt
    is padded to the same length.

    With SDXL, --second-prompts goes to the second text encoder (the prompt is used
    when it is not given), and the pooled embedding comes from the first window of
    the second text encoder. A weight scales the embeddings of its tokens only.
    """

    def __init__(self, model_type: Annotated[str, Arg(hidden=True)] = "") -> None:
        if model_type and model_type not in SD_TYPES + XL_TYPES:
            raise DgenerateError(
                f"--prompt-weighter sd-embed cannot weigh prompts for --model-type "
                f"{model_type}: it supports --model-type "
                f"{', '.join(SD_TYPES + XL_TYPES)}")
        self.model_type = model_type

    def translate(self, pipeline: Any, call_args: dict[str, Any]) -> dict[str, Any]:
        from .encode import encode_sd, encode_sdxl

        if "prompt" not in call_args:
            return call_args
        xl = self.model_type in XL_TYPES if self.model_type else (
            getattr(pipeline, "text_encoder_2", None) is not None)
        args = dict(call_args)
        prompts = _listed(args.pop("prompt"))
        texts = {name: _listed(args.pop(name, None), len(prompts))
                 for name in ("negative_prompt", "prompt_2", "negative_prompt_2")}
        clip_skip = args.pop("clip_skip", None)  # applied here, the pipeline needs it no more
        if xl:
            args.update(encode_sdxl(pipeline, prompts, texts["negative_prompt"],
                                    texts["prompt_2"], texts["negative_prompt_2"],
                                    clip_skip=clip_skip))
        else:
            args.update(encode_sd(pipeline, prompts, texts["negative_prompt"],
                                  clip_skip=clip_skip))
        return args


def _listed(value: Any, count: int = 1) -> list[Any]:
    if value is None:
        return [None] * count
    return [value] if isinstance(value, str) else list(value)
