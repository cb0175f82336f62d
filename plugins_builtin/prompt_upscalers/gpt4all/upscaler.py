"""The ``gpt4all`` prompt upscaler (light to import: the optional gpt4all package loads
with the model)."""

from __future__ import annotations

import contextlib
import io
import os
import random
from typing import Annotated, Any

from dgenerate.plugin_api import Arg, DgenerateError, PluginArgumentError, PluginContext
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
    continued,
    generate_all,
    plain_input,
)

__all__ = ["COMPUTE", "DEFAULT_MODEL", "Gpt4AllUpscaler"]

DEFAULT_MODEL = ("https://huggingface.co/failspy/Phi-3-mini-128k-instruct-abliterated-v3-GGUF/"
                 "resolve/main/Phi-3-mini-128k-instruct-abliterated-v3_q4.gguf")
#: the device names gpt4all understands besides a GPU's own name (from GPT4All.list_gpus)
COMPUTE = ("cpu", "gpu", "kompute", "cuda", "amd", "nvidia")
#: the chat format used with "system": gpt4all 2.8.2 does not read a GGUF's own template
#: (its chat sessions default to this format too, without the system turn)
CHAT_TEMPLATE = "### System:\n{system}\n\n### Human:\n{user}\n\n### Assistant:\n"



class Gpt4AllUpscaler(PartwiseUpscaler):
    """Rewrite prompts with a GGUF language model run by gpt4all's native backend
    (llama.cpp), on the CPU or a GPU, with little memory.

    Needs the optional gpt4all package: pip install dgenerate[gpt4all]. "model" is a
    GGUF file or a URL of one (downloaded once into dgenerate's web cache); the default
    is Phi-3 mini 128k instruct, abliterated, 4-bit. The model is kept in memory for
    later invocations.

    Without "system", the model continues "preamble + prompt" and the result is the
    prompt followed by what the model wrote (the preamble is not kept). With "system"
    the prompt is sent as a chat turn after that instruction and the result is the
    answer. "compute" is gpt4all's device name, not a torch device: cpu, gpu, kompute,
    cuda, amd, nvidia (or cuda:N, or a GPU name gpt4all lists).

    The output is cleaned (one line, single blanks, no stray commas or quotes) unless a
    "cleanup-config" file gives its own operations; "smart-truncate" first cuts the text
    after its last complete sentence. A result that "block-regex" matches is generated
    again up to "max-attempts" times, after which the prompt is kept as it was.
    gpt4all takes no seed: results vary from run to run.
    """

    pairs = True

    def __init__(
        self,
        *,
        part: Part = "both",
        model: Annotated[str, Arg(help="a GGUF model file or its URL")] = DEFAULT_MODEL,
        variations: Variations = 1,
        max_length: MaxLength = 100,
        temperature: Temperature = 0.7,
        top_k: Annotated[int, Arg(help="sample among the k likeliest tokens (1: always the "
                                       "likeliest)")] = 40,
        top_p: TopP = 0.4,
        min_p: Annotated[float, Arg(help="sample only tokens at least this probable "
                                         "(0: no limit)")] = 0.0,
        system: Annotated[str | None, Arg(help="a system instruction; the prompt is then sent "
                                               "as a chat turn")] = None,
        preamble: Preamble = None,
        remove_prompt: RemovePrompt = False,
        prepend_prompt: PrependPrompt = False,
        compute: Annotated[str | None, Arg(help="gpt4all device: cpu, gpu, kompute, cuda, amd "
                                                "or nvidia")] = "cpu",
        block_regex: BlockRegex = None,
        max_attempts: MaxAttempts = 10,
        context_tokens: Annotated[int, Arg(help="the context window of the model, in tokens")
                                  ] = 2048,
        smart_truncate: SmartTruncate = False,
        cleanup_config: CleanupConfig = None,
        context: Annotated[PluginContext | None, Arg(hidden=True)] = None,
    ) -> None:
        owner = "gpt4all"
        super().__init__(part, owner=owner)
        if not 0 <= min_p <= 1:
            raise PluginArgumentError(f"{owner}: min-p={min_p!r} must be between 0 and 1")
        if context_tokens < 1:
            raise PluginArgumentError(f"{owner}: context-tokens={context_tokens!r} must be at "
                                      "least 1")
        if compute is not None and not compute.strip():
            raise PluginArgumentError(f"{owner}: compute= is empty; use one of "
                                      f"{', '.join(COMPUTE)}")
        if not model or not model.strip():
            raise PluginArgumentError(f"{owner}: model= is empty")
        self.rules = check_common(
            owner, variations=variations, max_length=max_length, temperature=temperature,
            top_k=top_k, top_p=top_p, max_attempts=max_attempts, block_regex=block_regex,
            remove_prompt=remove_prompt, prepend_prompt=prepend_prompt,
            smart_truncate=smart_truncate, cleanup_config=cleanup_config)
        self.variations = variations
        self.sampling = {"max_tokens": max_length, "temp": temperature, "top_k": top_k,
                         "top_p": top_p, "min_p": min_p}
        self.system = system
        self.preamble = preamble
        self._context = context
        self._model = self._load(model.strip(), compute and compute.strip().lower(),
                                 context_tokens)

    # ------------------------------------------------------------------ loading

    def _local_file(self, model: str) -> str:
        if model.lower().startswith(("http://", "https://")):
            fetch = getattr(self._context, "fetch", None)
            if not callable(fetch):
                raise PluginArgumentError(f"gpt4all: model={model!r}: a URL needs the dgenerate "
                                          "kernel's web cache (no plugin context was given)")
            return fetch(model)
        path = os.path.expanduser(model)
        if not os.path.isfile(path):
            raise PluginArgumentError(f"gpt4all: model={model!r} is not a file (give a GGUF "
                                      "model file or its URL)")
        return path

    def _load(self, model: str, compute: str | None, context_tokens: int) -> Any:
        try:
            import gpt4all  # noqa: F401  (the optional extra)
        except ImportError:
            raise DgenerateError("gpt4all: the gpt4all package is not installed; install it with "
                                 "pip install dgenerate[gpt4all]") from None
        path = os.path.realpath(self._local_file(model))
        status = os.stat(path)
        key = ("gpt4all", path, status.st_mtime_ns, status.st_size, compute, context_tokens)

        def create() -> Any:
            from gpt4all import GPT4All

            # the native library prints its own notices to stdout: keep dgenerate's clean
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    return GPT4All(os.path.basename(path), model_path=os.path.dirname(path),
                                   allow_download=False, device=compute,
                                   n_ctx=context_tokens, verbose=False)
                except Exception as error:  # the bindings raise ValueError, RuntimeError ...
                    reason = " ".join(str(error).split())
                    raise DgenerateError(f"gpt4all: cannot load the model {model!r} "
                                         f"(compute={compute}): {reason}") from None

        return cached(self._context, "gpt4all", key, create, size=status.st_size)

    # --------------------------------------------------------------- generation

    def _one(self, request: GenerationRequest) -> str:
        if self.system:
            text = CHAT_TEMPLATE.format(system=self.system.strip(),
                                        user=plain_input(request.prompt, None, self.preamble))
            answer = self._model.generate(text, **self.sampling)
            return answer.split("### ", 1)[0]  # not the turns the model may invent after it
        answer = self._model.generate(plain_input(request.prompt, None, self.preamble),
                                      **self.sampling)
        return continued(request.prompt, answer)

    def _generate(self, requests: list[GenerationRequest]) -> list[str]:
        return [self._one(request) for request in requests]

    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        warn = getattr(self._context, "warn", None)
        return generate_all(texts, variations=self.variations,
                            seed=random.SystemRandom().randrange(2**63), rules=self.rules,
                            generate=self._generate, batch_size=1,
                            warn=warn if callable(warn) else None)

