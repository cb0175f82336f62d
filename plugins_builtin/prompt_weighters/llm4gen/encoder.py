"""The RankGen T5 encoder: loading its weights into a plain ``T5EncoderModel`` (no remote
code) and encoding prompts the way LLM4GEN reads them (heavy: torch, transformers)."""

from __future__ import annotations

from typing import Any

import torch

from dgenerate.plugin_api import DgenerateError

from .sources import EncoderSource

__all__ = ["MAX_LENGTH", "RankGen", "load_rankgen"]

#: tokens LLM4GEN reads from the encoder: every prompt is padded or cut to this length
MAX_LENGTH = 256
#: RankGen checkpoints keep the T5 encoder under this attribute of their wrapper model
_WRAPPER_PREFIX = r"^t5_encoder\."
#: RankGen marks the text it encodes as a prefix (the start of a passage) with this word
_PREFIX = "pre "


class RankGen:
    """A T5 encoder and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, quantized: bool) -> None:
        self.model, self.tokenizer, self.quantized = model, tokenizer, quantized

    @property
    def width(self) -> int:
        return int(self.model.config.d_model)

    def encode(self, texts: list[str], device: Any) -> torch.Tensor:
        """(len(texts), MAX_LENGTH, width) hidden states of the last layer."""
        tokens = self.tokenizer([_PREFIX + text for text in texts], padding="max_length",
                                max_length=MAX_LENGTH, truncation=True, return_tensors="pt")
        model = self.model
        if not self.quantized:
            model.to(device)
        target = next(model.parameters()).device
        with torch.no_grad():
            return model(input_ids=tokens["input_ids"].to(target),
                         attention_mask=tokens["attention_mask"].to(target)).last_hidden_state


def load_rankgen(source: EncoderSource, *, dtype: torch.dtype, quantization: Any,
                 token: str | None, offline: bool, what: str, device: str = "cpu") -> RankGen:
    """Load the encoder of ``source`` (a RankGen checkpoint, whose keys start with
    ``t5_encoder.``, or a plain T5 encoder) and its tokenizer. A quantized encoder is
    loaded straight onto ``device`` (quantized weights cannot be moved later)."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer
    from transformers.utils import logging

    from dgenerate.plugin_api.diffusion.loading import hub_offline

    config = T5Config(**source.config, use_cache=False, is_encoder_decoder=False)
    options: dict[str, Any] = {"token": token, "local_files_only": offline}
    placement = {"device_map": {"": device}} if quantization is not None else {}
    verbosity = logging.get_verbosity()
    # RankGen's own "projection" weights are not part of the encoder: no load report on them
    logging.set_verbosity_error()
    try:
        with hub_offline(offline):
            model, info = T5EncoderModel.from_pretrained(
                source.model, config=config, dtype=dtype, quantization_config=quantization,
                key_mapping={_WRAPPER_PREFIX: ""}, output_loading_info=True, **placement,
                **options)
    except (OSError, ValueError, RuntimeError) as error:
        raise DgenerateError(f"llm4gen: {what}: cannot load the T5 encoder from "
                             f"{source.model!r}: {' '.join(str(error).split())}") from None
    finally:
        logging.set_verbosity(verbosity)
    missing = [key for key in info.get("missing_keys", ()) if "embed_tokens" not in key]
    if missing:
        raise DgenerateError(
            f"llm4gen: {what}: {source.model!r} is not a T5 encoder checkpoint; "
            f"{len(missing)} weights are missing, e.g. {', '.join(sorted(missing)[:3])}")
    try:
        with hub_offline(offline):
            tokenizer = T5Tokenizer.from_pretrained(source.tokenizer, **options)
    except (OSError, ValueError) as error:
        raise DgenerateError(f"llm4gen: {what}: cannot load the T5 tokenizer from "
                             f"{source.tokenizer!r}: {' '.join(str(error).split())}") from None
    return RankGen(model.eval().requires_grad_(False), tokenizer, quantization is not None)
