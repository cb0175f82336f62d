"""The ``translate`` prompt upscaler (light to import: the providers load on first use)."""

from __future__ import annotations

import importlib.util
from typing import Annotated, Any

from dgenerate.plugin_api import Arg, DgenerateError, PluginArgumentError, PluginContext
from dgenerate.plugin_api.prompts import PartwiseUpscaler

from .languages import resolve_language

__all__ = ["PROVIDERS", "TranslateUpscaler"]

PROVIDERS = ("argos", "mariana")


class TranslateUpscaler(PartwiseUpscaler):
    """Translate prompts from one language into another, locally.

    Most diffusion models read English only (their CLIP text encoders were trained on
    English captions): translate lets you write prompts in your own language.

    input: the language of the prompts, an IETF code (de, zh, pt-BR) or an English
    name (german, chinese). output: the language to translate into, "en" by default.
    part: translate both parts of a prompt (both), or only the positive or the
    negative part.

    provider=argos (the default) uses argostranslate (pip extra dgenerate[argos]): small
    CTranslate2 models that always run on the CPU, whatever the device. The package for
    the language pair is installed from argos' package index the first time (or a pair
    through English when no direct package exists). Prompts are split into sentences at
    . ! ? and their CJK forms, instead of with argos' sentence splitter model.

    provider=mariana uses the Helsinki-NLP opus-mt models through transformers, named
    Helsinki-NLP/opus-mt-INPUT-OUTPUT on the Hugging Face hub: larger, usually better,
    and runs on the device. Not every pair is published.

    Models are downloaded once (into argos' package folder or the Hugging Face cache);
    with --offline-mode only what is already there is used. Loaded mariana models stay
    in memory for later invocations.

    batch: translate several prompts in one model call (mariana); batch=False
    translates one at a time, slower but lighter on memory. max-batch: at most this
    many prompts per call; None = no limit. device: where mariana runs (cpu, cuda,
    cuda:1); defaults to --device.
    """

    def __init__(
        self,
        *,
        input: Annotated[str, Arg(help="language of the prompts: IETF code (de, zh) or "
                                       "English name (german)")],
        output: Annotated[str, Arg(help="language to translate into: IETF code or English "
                                        "name")] = "en",
        part: Annotated[str, Arg(help="which part to translate: both, positive or "
                                      "negative")] = "both",
        provider: Annotated[str, Arg(help="argos (argostranslate, CPU) or mariana "
                                          "(Helsinki-NLP opus-mt via transformers)")] = "argos",
        batch: Annotated[bool, Arg(help="translate several prompts per model call "
                                        "(mariana)")] = True,
        max_batch: Annotated[int | None, Arg(help="most prompts per model call; None = "
                                                  "unlimited")] = 50,
        device: Annotated[str | None, Arg(help="device mariana runs on, e.g. cpu, cuda:1; "
                                               "defaults to --device")] = None,
        context: Annotated[PluginContext | None, Arg(hidden=True)] = None,
    ) -> None:
        super().__init__(part, owner="translate")
        self.source = resolve_language(input, "input")
        self.target = resolve_language(output, "output")
        self.provider = str(provider).strip().lower()
        if self.provider not in PROVIDERS:
            raise PluginArgumentError(
                f"translate: provider={provider!r} is not one of {', '.join(PROVIDERS)}")
        if max_batch is not None and max_batch < 1:
            raise PluginArgumentError(
                f"translate: max-batch={max_batch!r} must be at least 1 (or None, unlimited)")
        self.batch_size = (max_batch if batch else 1)
        self.device = device
        self._context = context
        self._offline = bool(getattr(context, "offline_mode", False))
        self._translator: Any = None

    def _translator_for(self) -> Any:
        if self._translator is None:
            if self.source == self.target:
                self._translator = list  # the same language: nothing to do
            elif self.provider == "argos":
                _require("argostranslate", "provider=argos needs argostranslate: pip install "
                                           "dgenerate[argos]")
                from .argos import ArgosTranslator

                self._translator = ArgosTranslator(self.source, self.target,
                                                   offline=self._offline)
            else:
                _require("sentencepiece", "provider=mariana needs sentencepiece (the opus-mt "
                                          "tokenizers use it): pip install sentencepiece")
                from .mariana import MarianaTranslator

                self._translator = MarianaTranslator(self.source, self.target,
                                                     device=self.device or "cpu",
                                                     offline=self._offline,
                                                     context=self._context)
        return self._translator

    def translate(self, texts: list[str]) -> list[str]:
        """``texts`` translated, in order, at most ``max-batch`` per model call."""
        translator = self._translator_for()
        size = self.batch_size or max(len(texts), 1)
        results: list[str] = []
        for start in range(0, len(texts), size):
            results.extend(translator(texts[start:start + size]))
        return results

    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        return [[text] for text in self.translate(texts)]


def _require(module: str, message: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DgenerateError(f"translate: {message}")
