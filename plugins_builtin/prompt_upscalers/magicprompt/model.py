"""Loading a causal LM with its tokenizer, and generating batches with it (heavy: torch
and transformers).

Sampling is done per row with a generator seeded for that row (see
:class:`RowSampler`), so a prompt's result depends on the seed and the prompt only, not
on the other prompts of its batch, the batch size or the padding.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from dgenerate.plugin_api import DgenerateError

from ..llm_text import GenerationRequest, continued, plain_input

__all__ = ["LanguageModel", "ModelSource", "RowSampler", "load", "resolve_source"]

_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HUB_LINK = re.compile(
    r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)"
    r"(?:/tree/(?P<revision>[^/?#]+))?/?$")
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth")


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """``kind`` is ``folder`` or ``hub``; ``revision`` only for the hub."""

    kind: str
    location: str
    revision: str | None = None


def resolve_source(model: str, owner: str = "magicprompt") -> ModelSource:
    """A folder on disk, a repository id (``owner/name``) or a link to a repository on
    the Hugging Face hub (``https://huggingface.co/owner/name[/tree/revision]``)."""
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        return ModelSource("folder", expanded)
    link = _HUB_LINK.match(model)
    if link:
        return ModelSource("hub", link.group("repo"), link.group("revision"))
    if model.lower().startswith(("http://", "https://")):
        raise DgenerateError(
            f"{owner}: model={model!r}: a transformers LLM is a folder of files, not one "
            "file: give a Hugging Face repository id (owner/name), a link to a repository "
            "(https://huggingface.co/owner/name) or a folder on disk")
    if os.path.exists(expanded):
        raise DgenerateError(f"{owner}: model={model!r} is a file; give the folder that holds "
                             "the model (config.json, weights and tokenizer files)")
    if _SLUG.match(model):
        return ModelSource("hub", model)
    raise DgenerateError(f"{owner}: model={model!r} does not exist: it is neither a folder "
                         "nor a Hugging Face repository id (owner/name)")


def disk_size(source: ModelSource) -> int:
    """Bytes of weights of a folder (0 for the hub: the cache sizes it otherwise)."""
    if source.kind != "folder":
        return 0
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(source.location) for name in names
               if name.endswith(_WEIGHTS))


@dataclasses.dataclass
class LanguageModel:
    """A loaded model and its tokenizer (the cached object)."""

    model: Any
    tokenizer: Any
    device: str

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split())[:600]


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """No transformers warnings or progress bars unless -v was given."""
    if verbose:
        yield
        return
    import transformers.utils.logging as transformers_logging

    level = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(level)
        if bars:
            transformers_logging.enable_progress_bar()


def load(source: ModelSource, *, dtype: str, device: str, offline: bool,
         quantization: Any = None, verbose: bool = False,
         owner: str = "magicprompt") -> LanguageModel:
    """The model and tokenizer of ``source`` on ``device``."""
    import transformers

    from dgenerate.plugin_api.diffusion.loading import hub_offline

    options: dict[str, Any] = {"local_files_only": offline}
    if source.kind == "hub":
        options["revision"] = source.revision or "main"
    where = (f"the Hugging Face repository {source.location!r}" if source.kind == "hub"
             else f"the folder {source.location!r}")
    with hub_offline(offline), _quiet(verbose):
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source.location, **options)
        except Exception as error:  # the hub client and tokenizers raise many kinds
            raise DgenerateError(f"{owner}: cannot load a tokenizer from {where}"
                                 f"{' (offline mode: local cache only)' if offline else ''}: "
                                 f"{_reason(error)}") from None
        model_options = dict(options, dtype=getattr(torch, dtype))
        if quantization is not None:
            model_options.update(quantization_config=quantization, device_map=device)
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(source.location,
                                                                      **model_options)
        except ValueError as error:
            if "Unrecognized configuration class" in str(error):
                raise DgenerateError(f"{owner}: {where} does not hold a causal language model "
                                     "(a text generator such as GPT-2, Llama, Phi): "
                                     f"{_reason(error)}") from None
            raise DgenerateError(f"{owner}: cannot load the model of {where}: "
                                 f"{_reason(error)}") from None
        except Exception as error:
            raise DgenerateError(f"{owner}: cannot load the model of {where}: "
                                 f"{_reason(error)}") from None
    if quantization is None:
        model = model.to(device)
    model.eval().requires_grad_(False)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise DgenerateError(f"{owner}: the tokenizer of {where} has neither a padding nor "
                                 "an end-of-text token, so prompts cannot be batched")
        tokenizer.pad_token = tokenizer.eos_token
    return LanguageModel(model, tokenizer, device)


class RowSampler:
    """A logits processor that samples each row with its own generator (temperature,
    top-k, top-p) and leaves only the chosen token possible: with greedy decoding,
    ``generate`` then takes exactly that token."""

    def __init__(self, seeds: Sequence[int], *, temperature: float, top_k: int,
                 top_p: float) -> None:
        self.generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logits = scores.detach().float().cpu() / self.temperature
        if 0 < self.top_k < logits.shape[-1]:
            kth = torch.topk(logits, self.top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1.0:
            ordered, order = torch.sort(logits, descending=True, dim=-1)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            drop = cumulative - ordered.softmax(dim=-1) >= self.top_p  # keeps the first
            logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
        probabilities = logits.softmax(dim=-1)
        chosen = torch.stack([torch.multinomial(row, 1, generator=generator)
                              for row, generator in zip(probabilities, self.generators,
                                                        strict=True)])
        result = torch.full_like(scores, float("-inf"))
        return result.scatter(-1, chosen.to(scores.device), 0.0)


def _input_text(model: LanguageModel, prompt: str, system: str | None,
                preamble: str | None) -> tuple[str, bool]:
    """The text the model sees and whether it is a chat (answer kept as is) rather than a
    continuation (the prompt is put back in front of the new text)."""
    if system and model.has_chat_template:
        user = plain_input(prompt, None, preamble)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            text = model.tokenizer.apply_chat_template(messages, tokenize=False,
                                                       add_generation_prompt=True)
        except Exception:  # some templates refuse a system role: fold it into the user turn
            messages = [{"role": "user", "content": f"{system}\n\n{user}"}]
            text = model.tokenizer.apply_chat_template(messages, tokenize=False,
                                                       add_generation_prompt=True)
        return text, True
    return plain_input(prompt, system, preamble), False


def generate(model: LanguageModel, requests: Sequence[GenerationRequest], *, system: str | None,
             preamble: str | None, max_length: int, temperature: float, top_k: int,
             top_p: float, owner: str = "magicprompt") -> list[str]:
    """One raw generation per request, in one left-padded batch."""
    from transformers import GenerationConfig, LogitsProcessorList

    inputs = [_input_text(model, request.prompt, system, preamble) for request in requests]
    chat = inputs[0][1]
    tokenizer = model.tokenizer
    encoded = tokenizer([text for text, _ in inputs], return_tensors="pt", padding=True,
                        add_special_tokens=not chat)
    length = encoded["input_ids"].shape[1]
    limit = getattr(model.model.config, "max_position_embeddings", None)
    new_tokens = max_length
    if limit:
        if length >= limit:
            raise DgenerateError(f"{owner}: the prompt takes {length} tokens, the model reads "
                                 f"at most {limit}")
        new_tokens = min(max_length, limit - length)
    config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, num_beams=1,
                              pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=tokenizer.eos_token_id,
                              bos_token_id=tokenizer.bos_token_id)
    sampler = RowSampler([request.seed for request in requests], temperature=temperature,
                         top_k=top_k, top_p=top_p)
    with torch.inference_mode():
        output = model.model.generate(
            **{key: value.to(model.model.device) for key, value in encoded.items()},
            generation_config=config, logits_processor=LogitsProcessorList([sampler]))
    answers = tokenizer.batch_decode(output[:, length:], skip_special_tokens=True)
    if chat:
        return answers
    # decoding whole rows keeps the blank between the prompt and the new text that some
    # tokenizers (sentencepiece) drop when the new tokens are decoded alone
    whole = tokenizer.batch_decode(output, skip_special_tokens=True)
    given = tokenizer.batch_decode(encoded["input_ids"], skip_special_tokens=True)
    results = []
    for request, answer, full, prefix in zip(requests, answers, whole, given, strict=True):
        if prefix.strip() and full.startswith(prefix):
            results.append(request.prompt.rstrip() + full[len(prefix):])
        else:  # the input does not decode to itself (unknown tokens): join with a blank
            results.append(continued(request.prompt, answer))
    return results
