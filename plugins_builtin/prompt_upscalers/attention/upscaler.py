"""The ``attention`` prompt upscaler class (light to import: spaCy loads on first use)."""

from __future__ import annotations

import random as _random
from typing import Annotated, Any, Literal

from dgenerate.plugin_api import Arg, PluginArgumentError
from dgenerate.plugin_api.prompts import PartwiseUpscaler

__all__ = ["LANGUAGES", "AttentionUpscaler"]

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "ru", "zh")


class AttentionUpscaler(PartwiseUpscaler):
    """Give each noun chunk of the prompt ("a large horse", "a green field") a random
    attention weight, for a --prompt-weighter that reads weights (sd-embed, compel).

    Each chunk's weight is 1 + a number drawn uniformly between "min" and "max", so the
    defaults give weights from 1.1 to 1.9 (emphasis); a negative "min" or "max" lets
    weights fall below 1. Weights are written with two decimals: "(a large horse:1.42)"
    with syntax=sd-embed (the SD Web UI syntax, the default) or "(a large horse)1.42"
    with syntax=compel. Text already inside brackets, or holding weighting syntax, is
    left as written.

    part chooses what is rewritten: both (default), positive or negative. seed makes the
    weights the same on every run.

    lang is the prompt's language: en (default), de, fr, es, it, nl, pt, ru or zh. Noun
    chunks are found by that language's small spaCy pipeline (en_core_web_sm,
    de_core_news_sm, ...), downloaded once from the spaCy models releases on GitHub
    into $DGENERATE_CACHE/spacy (the environment variable DGENERATE_SPACY_MODEL_URL,
    a template with {name} and {version}, replaces the address). For ru and zh, which
    have no noun-chunk rules in spaCy, runs of adjectives and nouns are weighted.
    """

    pairs = True

    def __init__(
        self,
        *,
        part: Annotated[Literal["both", "positive", "negative"],
                        Arg(help="which parts of the prompt to weight")] = "both",
        min: Annotated[float, Arg(help="lowest value added to the weight 1.0")] = 0.1,
        max: Annotated[float, Arg(help="highest value added to the weight 1.0")] = 0.9,
        seed: Annotated[int | None, Arg(help="seed of the random weights; none: "
                                             "different each run")] = None,
        lang: Annotated[Literal["en", "de", "fr", "es", "it", "nl", "pt", "ru", "zh"],
                        Arg(help="language of the prompt")] = "en",
        syntax: Annotated[Literal["sd-embed", "compel"],
                          Arg(help="sd-embed: (text:1.5); compel: (text)1.5")] = "sd-embed",
        context: Annotated[Any, Arg(hidden=True)] = None,
    ) -> None:
        super().__init__(part, owner="attention")
        if min > max:
            raise PluginArgumentError(f"attention: min={min} is larger than max={max}")
        if 1.0 + min <= 0.0:
            raise PluginArgumentError(
                f"attention: min={min} would give weights of 0 or less (the weight is "
                "1 + a value between min and max); use a min above -1")
        if lang not in LANGUAGES:
            raise PluginArgumentError(
                f"attention: lang={lang!r} is not one of {', '.join(LANGUAGES)}")
        if syntax not in ("sd-embed", "compel"):
            raise PluginArgumentError(
                f"attention: syntax={syntax!r} is not sd-embed or compel")
        self.low, self.high = min, max
        self.lang = lang
        self.syntax = syntax
        self.context = context
        self._rng = _random.Random(seed)

    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        from .models import load_pipeline
        from .weights import weigh

        pipeline = load_pipeline(self.lang, self.context)
        return [[weigh(doc, self._rng, self.low, self.high, self.syntax)]
                for doc in pipeline.pipe(texts)]
