"""The ``mariana`` provider: Helsinki-NLP opus-mt models (MarianMT) through transformers
(heavy: torch, transformers).

A model is loaded from its hub slug with ``from_pretrained``, so the Hugging Face cache
(``HF_HOME``/``HF_HUB_CACHE``) is used like for every other model and offline mode reads
only that cache. Loaded models stay in dgenerate's ``translate`` object cache (or a
small cache of this module when there is no kernel context).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Hashable
from typing import Any

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.caching import cached

__all__ = ["MarianaTranslator", "model_id"]

_DEVICE = re.compile(r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")


def model_id(source: str, target: str) -> str:
    """The hub repository of the opus-mt model translating ``source`` into ``target``."""
    return f"Helsinki-NLP/opus-mt-{source}-{target}"


@dataclasses.dataclass
class _Loaded:
    tokenizer: Any
    model: Any
    device: str


def _load(repository: str, device: str, offline: bool) -> _Loaded:
    from transformers import MarianMTModel, MarianTokenizer

    try:
        model = MarianMTModel.from_pretrained(repository, local_files_only=offline)
        tokenizer = MarianTokenizer.from_pretrained(repository, local_files_only=offline)
    except (OSError, ValueError, TypeError) as error:  # TypeError: tokenizer files missing
        where = ("is not in the Hugging Face cache and offline mode forbids downloading it"
                 if offline else "cannot be loaded (Helsinki-NLP may publish no model for "
                 "this language pair)")
        reason = " ".join(str(error).split())[:400]
        raise DgenerateError(
            f"translate: the model {repository!r} {where}: {reason}") from None
    return _Loaded(tokenizer, model.to(device).eval().requires_grad_(False), device)


def _cached(context: Any, key: Hashable, create: Callable[[], _Loaded], device: str) -> _Loaded:
    return cached(context, "translate", key, create, device=device)


class MarianaTranslator:
    """Translates lists of texts with one opus-mt model, one ``generate`` call per list."""

    def __init__(self, source: str, target: str, *, device: str, offline: bool,
                 context: Any = None) -> None:
        from dgenerate.plugin_api.diffusion.devices import resolve_device

        self.repository = model_id(source, target)
        requested = str(device).strip().lower()
        if not _DEVICE.match(requested):
            raise DgenerateError(
                f"translate: device={device!r} is not auto, cpu, cuda, cuda:N, mps, xpu or xpu:N")
        self.device = resolve_device(requested, what="translate: device=")
        self._loaded = _cached(context, ("mariana", self.repository, self.device),
                               lambda: _load(self.repository, self.device, offline),
                               self.device)

    def __call__(self, texts: list[str]) -> list[str]:
        import torch

        loaded = self._loaded
        batch = loaded.tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            tokens = loaded.model.generate(**batch.to(loaded.device), do_sample=False)
        return [text.strip() for text in
                loaded.tokenizer.batch_decode(tokens, skip_special_tokens=True)]
