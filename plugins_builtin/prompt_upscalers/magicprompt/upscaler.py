"""The ``magicprompt`` prompt upscaler (light to import: torch and transformers load when
the model does)."""

from __future__ import annotations

import os
import random
from typing import Annotated, Any

from dgenerate.plugin_api import Arg, PluginArgumentError, PluginContext
from dgenerate.plugin_api.caching import cached
from dgenerate.plugin_api.prompts import PartwiseUpscaler

from ..llm_text import (
    BlockRegex,
    CleanupConfig,
    GenerationRequest,
    MaxAttempts,
    MaxLength,
    Part,
    Preamble,
    PrependPrompt,
    RemovePrompt,
    SmartTruncate,
    Temperature,
    TopP,
    Variations,
    check_common,
    generate_all,
)

__all__ = ["DEFAULT_MODEL", "MagicPromptUpscaler"]

DEFAULT_MODEL = "Gustavosta/MagicPrompt-Stable-Diffusion"
DTYPES = ("float32", "float16", "bfloat16")

#: models loaded without a kernel context (direct use in code): the last few are kept


class MagicPromptUpscaler(PartwiseUpscaler):
    """Rewrite prompts with a causal language model loaded through transformers.

    The default model, MagicPrompt, is a GPT-2 fine-tuned to continue Stable Diffusion
    prompts; any other text generator transformers can load works too (a repository id,
    a link to a Hugging Face repository, or a folder). A model is loaded once and kept
    in memory for later invocations.

    Without "system", the model continues "preamble + prompt" and the result is the
    prompt followed by what the model wrote (the preamble is not kept). With "system"
    and a tokenizer that has a chat template, the model is asked as a chat (system
    instruction, then preamble + prompt as the user's turn) and the result is its
    answer; without a chat template the system text is put in front of the preamble.

    Each prompt is generated "variations" times. Generation is seeded per prompt and
    variation: the same seed gives the same results whatever "batch" and "max-batch"
    are. "top-k" = 1 chooses the likeliest token every time (no randomness).

    The output is cleaned (one line, single blanks, no stray commas or quotes) unless a
    "cleanup-config" file gives its own operations; "smart-truncate" first cuts the text
    after its last complete sentence. A result that "block-regex" matches is generated
    again with a new seed up to "max-attempts" times, after which the prompt is kept as
    it was; so is a prompt the cleanup leaves empty.
    """

    pairs = True

    def __init__(
        self,
        *,
        part: Part = "both",
        model: Annotated[str, Arg(help="a Hugging Face repository id or link, or a folder "
                                       "holding a causal LM and its tokenizer")] = DEFAULT_MODEL,
        dtype: Annotated[str, Arg(help="weights dtype: float32, float16 or bfloat16")
                         ] = "float32",
        seed: Annotated[int | None, Arg(help="seed for reproducible generation (random when "
                                             "not given)")] = None,
        variations: Variations = 1,
        max_length: MaxLength = 100,
        temperature: Temperature = 0.7,
        top_k: Annotated[int, Arg(help="sample among the k likeliest tokens (1: always the "
                                       "likeliest; 0: no limit)")] = 50,
        top_p: TopP = 1.0,
        system: Annotated[str | None, Arg(help="a system instruction (used through the "
                                               "tokenizer's chat template when it has one)")
                          ] = None,
        preamble: Preamble = None,
        remove_prompt: RemovePrompt = False,
        prepend_prompt: PrependPrompt = False,
        batch: Annotated[bool, Arg(help="generate several prompts at once (False: one at a "
                                        "time, less memory)")] = True,
        max_batch: Annotated[int | None, Arg(help="the most prompts generated at once "
                                                  "(None: no limit)")] = 50,
        quantizer: Annotated[str | None, Arg(help="a quantizer URI to load the model with, "
                                                  "as for --quantizer")] = None,
        block_regex: BlockRegex = None,
        max_attempts: MaxAttempts = 10,
        smart_truncate: SmartTruncate = False,
        cleanup_config: CleanupConfig = None,
        device: Annotated[str | None, Arg(help="device to run the model on, e.g. cpu, cuda:1 "
                                               "(default: --device)")] = None,
        context: Annotated[PluginContext | None, Arg(hidden=True)] = None,
    ) -> None:
        owner = "magicprompt"
        super().__init__(part, owner=owner)
        if dtype not in DTYPES:
            raise PluginArgumentError(f"{owner}: dtype={dtype!r} is not one of "
                                      f"{', '.join(DTYPES)}")
        if max_batch is not None and max_batch < 1:
            raise PluginArgumentError(f"{owner}: max-batch={max_batch!r} must be at least 1 "
                                      "(or None for no limit)")
        if not model or not model.strip():
            raise PluginArgumentError(f"{owner}: model= is empty")
        self.rules = check_common(
            owner, variations=variations, max_length=max_length, temperature=temperature,
            top_k=top_k, top_p=top_p, max_attempts=max_attempts, block_regex=block_regex,
            remove_prompt=remove_prompt, prepend_prompt=prepend_prompt,
            smart_truncate=smart_truncate, cleanup_config=cleanup_config)
        self.variations = variations
        self.max_length = max_length
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.system = system
        self.preamble = preamble
        self.batch_size = (max_batch if batch else 1)
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self._context = context
        self._model = self._load(model.strip(), dtype, device, quantizer)

    # ------------------------------------------------------------------ loading

    def _load(self, model: str, dtype: str, device: str | None, quantizer: str | None) -> Any:
        from dgenerate.plugin_api.diffusion.devices import resolve_device

        from . import model as llm

        context = self._context
        source = llm.resolve_source(model)
        device = resolve_device((device or "auto").strip().lower(), what="magicprompt: device=")
        quantization = self._quantization(quantizer, device)
        stamp = None
        if source.kind == "folder":
            config = os.path.join(source.location, "config.json")
            stamp = os.stat(config).st_mtime_ns if os.path.isfile(config) else None
        key = ("magicprompt", source, stamp, dtype, device, quantizer)
        offline = bool(getattr(context, "offline_mode", False))

        def create() -> Any:
            loaded = llm.load(source, dtype=dtype, device=device, offline=offline,
                              quantization=quantization,
                              verbose=bool(getattr(context, "verbose", False)))
            debug = getattr(context, "debug", None)
            if callable(debug):
                debug(f"magicprompt: loaded {source.location} on {device}")
            return loaded

        return cached(context, "magicprompt", key, create, size=llm.disk_size(source),
                      device=device)

    def _quantization(self, quantizer: str | None, device: str) -> Any:
        if quantizer is None:
            return None
        from dgenerate.plugin_api import Category, DgenerateError

        create = getattr(self._context, "create", None)
        if not callable(create):
            raise PluginArgumentError("magicprompt: quantizer= needs the dgenerate kernel "
                                      "(no plugin context was given)")
        try:
            backend = create(Category.QUANTIZER, quantizer, device=device)
        except DgenerateError as error:
            raise PluginArgumentError(f"magicprompt: quantizer={quantizer!r}: {error}"
                                      ) from None
        configuration = backend.transformers_config()
        if configuration is None:
            raise PluginArgumentError(f"magicprompt: quantizer={quantizer!r} cannot quantize "
                                      "transformers models")
        return configuration

    # --------------------------------------------------------------- generation

    def _generate(self, requests: list[GenerationRequest]) -> list[str]:
        from . import model as llm

        return llm.generate(self._model, requests, system=self.system, preamble=self.preamble,
                            max_length=self.max_length, temperature=self.temperature,
                            top_k=self.top_k, top_p=self.top_p)

    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        warn = getattr(self._context, "warn", None)
        return generate_all(texts, variations=self.variations, seed=self.seed, rules=self.rules,
                            generate=self._generate, batch_size=self.batch_size,
                            warn=warn if callable(warn) else None)


