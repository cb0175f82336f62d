"""The ``compel`` prompt weighter (light to import: torch and compel load on first use)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from dgenerate.plugin_api import Arg, DgenerateError, PluginArgumentError, PromptWeighter

__all__ = ["SUPPORTED_MODEL_TYPES", "SYNTAXES", "CompelWeighter"]

SYNTAXES = ("compel", "sdwui")
#: the model types compel weighs (``encode.FAMILIES`` says how; kept here to stay light)
SUPPORTED_MODEL_TYPES = ("sd", "pix2pix", "upscaler-x4", "sdxl", "sdxl-pix2pix", "s-cascade",
                         "flux", "flux-fill", "flux-kontext")


class CompelWeighter(PromptWeighter):
    """Weighted prompts, and prompts longer than 77 tokens, encoded by the compel library.

    syntax=compel (the default) reads compel's (InvokeAI's) syntax: "(word)1.3" or
    "word+" / "word++" to strengthen, "(word)0.8" or "word-" to weaken, "(a tall
    man)++" for a group, ".blend()" and ".and()" of compel.

    syntax=sdwui first rewrites the SD-WebUI (AUTOMATIC1111) syntax into compel's:
    "(word)" = x1.1, "((word))" = x1.21, "[word]" = /1.1, "(word:1.3)" = x1.3;
    "\\(" and "\\)" are literal brackets.

    Works with --model-type sd, pix2pix, upscaler-x4, sdxl, sdxl-pix2pix, s-cascade,
    flux, flux-fill and flux-kontext, and with the SDXL refiner and the Stable Cascade
    decoder (--second-model-prompt-weighter). For sdxl both text encoders are used,
    --second-prompts go to the second one (as without a weighter) and the pooled
    embeddings come from it; the refiner has only that second encoder, which reads its
    primary prompt, so --second-model-second-prompts is ignored with a warning. For
    flux the primary prompt goes to the T5 encoder, where the weights act, and
    --second-prompts (by default the primary prompt) to the pooled CLIP vector; T5 reads
    --max-sequence-length tokens. The pipeline then receives embeddings instead of
    prompt texts; the negative embeddings are padded to the length of the positive ones.
    --clip-skips is honoured for sd up to 1 (compel reads the last or the penultimate
    layer only) and not at all for sdxl.
    """

    def __init__(
        self,
        *,
        syntax: Annotated[Literal["compel", "sdwui"],
                          Arg(help="compel (default) or sdwui, the SD-WebUI syntax")] = "compel",
        model_type: Annotated[str | None, Arg(hidden=True)] = None,
        device: Annotated[str, Arg(hidden=True)] = "cpu",
        context: Annotated[Any, Arg(hidden=True)] = None,
    ) -> None:
        if syntax not in SYNTAXES:
            raise PluginArgumentError(
                f"compel: syntax={syntax!r} is not a syntax compel reads; use one of "
                f"{', '.join(SYNTAXES)}")
        if model_type is not None and model_type not in SUPPORTED_MODEL_TYPES:
            raise DgenerateError(
                f"--prompt-weighter compel cannot weigh the prompts of --model-type "
                f"{model_type}: it works with {', '.join(SUPPORTED_MODEL_TYPES)} only")
        self.syntax = syntax
        self.model_type = model_type
        self.device = device
        self.context = context
        self._warned: set[str] = set()

    def translate(self, pipeline: Any, call_args: dict[str, Any]) -> dict[str, Any]:
        from .encode import encode

        arguments = dict(call_args)
        if self.syntax == "sdwui":
            from .sdwui import translate_sdwui

            for key in ("prompt", "negative_prompt", "prompt_2", "negative_prompt_2"):
                if arguments.get(key) is not None:
                    arguments[key] = [translate_sdwui(text) for text in arguments[key]]
        return encode(pipeline, arguments, self.model_type or _guess(pipeline), self._warn)

    def _warn(self, message: str) -> None:
        """Tell the user once per invocation (not once per job)."""
        if message not in self._warned:
            self._warned.add(message)
            if self.context is not None:
                self.context.warn(message)
            else:
                import warnings

                warnings.warn(message, stacklevel=3)


def _guess(pipeline: Any) -> str:
    """The family of a pipeline handed without a model type name (direct use in code)."""
    name = type(pipeline).__name__
    if name.startswith("StableCascade"):
        return "s-cascade"
    if name.startswith("Flux"):
        return "flux"
    return "sdxl" if getattr(pipeline, "text_encoder_2", None) is not None else "sd"
