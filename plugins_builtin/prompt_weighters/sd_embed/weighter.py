"""The ``sd-embed`` prompt weighter (light at import: torch is loaded on first use)."""

from __future__ import annotations

from typing import Annotated, Any

from dgenerate.plugin_api import PromptWeighter
from dgenerate.plugin_api.args import Arg
from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["CASCADE_TYPES", "FLUX_TYPES", "SD3_TYPES", "SD_TYPES", "SUPPORTED_MODEL_TYPES",
           "XL_TYPES", "SdEmbed"]

SD_TYPES = ("sd", "pix2pix", "upscaler-x4")
"""Model types encoding with one CLIP text encoder, the Stable Diffusion 1/2 way."""
XL_TYPES = ("sdxl", "sdxl-pix2pix")
"""Model types encoding with the two CLIP text encoders of Stable Diffusion XL."""
CASCADE_TYPES = ("s-cascade",)
"""Model types whose (prior) pipeline reads one CLIP bigG encoder, Stable Cascade."""
SD3_TYPES = ("sd3",)
"""Model types encoding with two CLIP encoders and T5, Stable Diffusion 3."""
FLUX_TYPES = ("flux", "flux-fill", "flux-kontext")
"""Model types encoding with a CLIP encoder (pooled only) and T5, Flux."""
SUPPORTED_MODEL_TYPES = SD_TYPES + XL_TYPES + CASCADE_TYPES + SD3_TYPES + FLUX_TYPES

#: the T5 tokens read when the call arguments do not say (the pipelines' own defaults)
_SEQUENCE_LENGTHS = {"sd3": 256, "flux": 512}


class SdEmbed(PromptWeighter):
    """Stable Diffusion Web UI prompt weighting and prompts of any length, for Stable
    Diffusion 1/2 (sd, pix2pix, upscaler-x4), Stable Diffusion XL (sdxl, sdxl-pix2pix),
    Stable Cascade (s-cascade), Stable Diffusion 3 (sd3) and Flux (flux, flux-fill,
    flux-kontext).

    Syntax: "(word)" multiplies the attention on word by 1.1 and "[word]" divides it
    by 1.1, nesting multiplies, "((word))" is 1.21; "(word:1.5)" gives an explicit
    weight; "\\(" and "\\)" are literal parentheses. An unbalanced bracket is kept as
    text. A weight scales the embeddings of its tokens only.

    Prompts longer than a CLIP text encoder's 77-token window are not truncated: they
    are encoded in windows of 75 tokens which are concatenated; the negative prompt
    is padded to the same length. T5 (sd3, flux) is not windowed: it reads
    --max-sequence-length tokens, as without a weighter.

    With SDXL, --second-prompts goes to the second text encoder (the prompt is used
    when it is not given), and the pooled embedding comes from the first window of
    the second text encoder. With SD3 every encoder reads the prompt: --second-prompts
    and --third-prompts are ignored, with a warning. With Flux the prompt goes to the
    CLIP encoder (its pooled embedding) and --second-prompts, or else the prompt, to
    T5, as without a weighter; weights count in the T5 prompt, and Flux takes no
    negative prompt. With Stable Cascade the prior's prompts are weighted; the
    decoder's are not.
    """

    def __init__(self, model_type: Annotated[str, Arg(hidden=True)] = "",
                 context: Annotated[Any, Arg(hidden=True)] = None) -> None:
        if model_type and model_type not in SUPPORTED_MODEL_TYPES:
            raise DgenerateError(
                f"--prompt-weighter sd-embed cannot weigh prompts for --model-type "
                f"{model_type}: it supports --model-type "
                f"{', '.join(SUPPORTED_MODEL_TYPES)}")
        self.model_type = model_type
        self.context = context
        self._warned: set[str] = set()

    def warn(self, message: str, *, once: bool = False) -> None:
        """A warning on the kernel's channel (Python's warnings when used without one)."""
        if once and message in self._warned:
            return
        self._warned.add(message)
        if self.context is not None and hasattr(self.context, "warn"):
            self.context.warn(message)
        else:
            import warnings

            warnings.warn(message, stacklevel=3)

    def translate(self, pipeline: Any, call_args: dict[str, Any]) -> dict[str, Any]:
        if "prompt" not in call_args:
            return call_args
        family = _family(self.model_type, pipeline)
        args = dict(call_args)
        prompts = _listed(args.pop("prompt"))
        texts = {name: _listed(args.pop(name, None), len(prompts))
                 for name in ("negative_prompt", "prompt_2", "negative_prompt_2",
                              "prompt_3", "negative_prompt_3")}
        clip_skip = args.pop("clip_skip", None)  # applied here, the pipeline needs it no more
        if family == "sdxl":
            from .encode import encode_sdxl

            args.update(encode_sdxl(pipeline, prompts, texts["negative_prompt"],
                                    texts["prompt_2"], texts["negative_prompt_2"],
                                    clip_skip=clip_skip))
        elif family == "sd":
            from .encode import encode_sd

            args.update(encode_sd(pipeline, prompts, texts["negative_prompt"],
                                  clip_skip=clip_skip))
        elif family == "s-cascade":
            from .families import encode_cascade

            args.update(encode_cascade(pipeline, prompts, texts["negative_prompt"],
                                       clip_skip=clip_skip))
        elif family == "sd3":
            from .families import encode_sd3

            ignored = [flag for flag, keys in (
                ("--second-prompts", ("prompt_2", "negative_prompt_2")),
                ("--third-prompts", ("prompt_3", "negative_prompt_3")))
                if any(text is not None for key in keys for text in texts[key])]
            if ignored:
                self.warn(f"--prompt-weighter sd-embed ignores {' and '.join(ignored)} with "
                          "--model-type sd3: all three text encoders read the primary "
                          "prompt", once=True)
            dropped: list[int] = []
            args.update(encode_sd3(pipeline, prompts, texts["negative_prompt"],
                                   clip_skip=clip_skip,
                                   max_sequence_length=self._length(args, "sd3"),
                                   dropped=dropped))
            self._truncated(dropped, args, "sd3")
        else:
            from .families import encode_flux

            if any(text is not None for key in ("negative_prompt", "negative_prompt_2")
                   for text in texts[key]):
                self.warn("--prompt-weighter sd-embed ignores negative prompts with Flux, "
                          "which runs no classifier-free guidance", once=True)
            dropped = []
            args.update(encode_flux(pipeline, prompts, texts["prompt_2"],
                                    max_sequence_length=self._length(args, "flux"),
                                    dropped=dropped))
            self._truncated(dropped, args, "flux")
        return args

    @staticmethod
    def _length(args: dict[str, Any], family: str) -> int:
        length = args.get("max_sequence_length")
        return _SEQUENCE_LENGTHS[family] if length is None else int(length)

    def _truncated(self, dropped: list[int], args: dict[str, Any], family: str) -> None:
        lost = max(dropped, default=0)
        if lost:
            self.warn(f"--prompt-weighter sd-embed: the T5 text encoder reads "
                      f"{self._length(args, family)} tokens (--max-sequence-length), and "
                      f"{lost} token(s) of the prompt did not fit and were dropped"
                      + ("; the CLIP encoders read the whole prompt" if family == "sd3"
                         else ""))


def _family(model_type: str, pipeline: Any) -> str:
    """The encoding a model type needs, or, used without one (directly in code), a guess
    from the pipeline's parts."""
    if model_type:
        for family, types in (("sd", SD_TYPES), ("sdxl", XL_TYPES), ("sd3", SD3_TYPES),
                              ("flux", FLUX_TYPES), ("s-cascade", CASCADE_TYPES)):
            if model_type in types:
                return family
    name = type(pipeline).__name__
    if name.startswith("StableCascade"):
        return "s-cascade"
    if name.startswith("Flux"):
        return "flux"
    if getattr(pipeline, "text_encoder_3", None) is not None or name.startswith(
            "StableDiffusion3"):
        return "sd3"
    return "sdxl" if getattr(pipeline, "text_encoder_2", None) is not None else "sd"


def _listed(value: Any, count: int = 1) -> list[Any]:
    if value is None:
        return [None] * count
    return [value] if isinstance(value, str) else list(value)
