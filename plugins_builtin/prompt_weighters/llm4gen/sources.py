"""Where the RankGen encoder, its tokenizer and the projector file come from: Hugging Face
repositories (through the hub cache, honouring offline mode) or local paths (light: the
hub client is imported when used)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from dgenerate.plugin_api import DgenerateError

__all__ = ["ENCODERS", "EncoderSource", "encoder_source", "hub_file", "projector_file"]

#: the RankGen encoder variants by argument value: (hub repository, T5 size)
ENCODERS = {
    "base-all": ("kalpeshk2011/rankgen-t5-base-all", "base"),
    "large-all": ("kalpeshk2011/rankgen-t5-large-all", "large"),
    "xl-all": ("kalpeshk2011/rankgen-t5-xl-all", "xl"),
    "xl-pg19": ("kalpeshk2011/rankgen-t5-xl-pg19", "xl"),
}
#: RankGen ships no tokenizer; it reads the T5 v1.1 vocabulary of its size
TOKENIZER_REPOSITORY = "google/t5-v1_1-{size}"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json")
#: T5 v1.1 hyperparameters, used when a RankGen config.json does not spell them out
_T5_SIZES = {
    "base": {"d_model": 768, "d_ff": 2048, "num_layers": 12, "num_heads": 12},
    "large": {"d_model": 1024, "d_ff": 2816, "num_layers": 24, "num_heads": 16},
    "xl": {"d_model": 2048, "d_ff": 5120, "num_layers": 24, "num_heads": 32},
}


class EncoderSource:
    """A RankGen encoder to load: ``model`` (repository id or folder), ``tokenizer``
    (repository id or folder) and the T5 hyperparameters from its config."""

    def __init__(self, model: str, tokenizer: str, config: dict[str, Any], local: bool):
        self.model, self.tokenizer, self.config, self.local = model, tokenizer, config, local


def hub_file(repository: str, filename: str, *, subfolder: str | None = None,
             revision: str | None = None, token: str | None = None, offline: bool,
             what: str) -> str:
    """The local path of a file of a hub repository (downloaded into the hub cache,
    never in offline mode); errors name the repository and the file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    shown = f"{subfolder}/{filename}" if subfolder else filename
    try:
        return hf_hub_download(repository, filename, subfolder=subfolder or None,
                               revision=revision, token=token, local_files_only=offline)
    except LocalEntryNotFoundError:
        raise DgenerateError(
            f"llm4gen: {what}: the file {shown!r} of the Hugging Face repository "
            f"{repository!r}" + (f" (revision {revision!r})" if revision else "")
            + " is not in the local Hugging Face cache"
            + (" and offline mode forbids downloading it" if offline
               else " and could not be downloaded")) from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise DgenerateError(
            f"llm4gen: {what}: cannot download {shown!r} from the Hugging Face repository "
            f"{repository!r}: {' '.join(str(error).split())}") from None


def projector_file(projector: str, *, subfolder: str | None, revision: str | None,
                   weight_name: str, token: str | None, offline: bool) -> str:
    """The projector's weights: a file, a file in a folder (``subfolder``/``weight_name``),
    or a file of a hub repository."""
    if os.path.isfile(projector):
        return projector
    if os.path.isdir(projector):
        path = os.path.join(projector, subfolder or "", weight_name)
        if not os.path.isfile(path):
            raise DgenerateError(f"llm4gen: projector={projector!r}: the folder holds no "
                                 f"projector file {os.path.relpath(path, projector)!r} (see "
                                 "projector-subfolder and projector-weight-name)")
        return path
    if not _REPO_ID.match(projector):
        raise DgenerateError(f"llm4gen: projector={projector!r} is neither an existing file "
                             "or folder nor a Hugging Face repository id (owner/name)")
    return hub_file(projector, weight_name, subfolder=subfolder, revision=revision,
                    token=token, offline=offline, what=f"projector={projector!r}")


def encoder_source(encoder: str, *, token: str | None, offline: bool) -> EncoderSource:
    """Resolve the ``encoder`` argument: a RankGen variant name or a local folder holding
    a T5 encoder (a RankGen checkpoint or a plain ``T5EncoderModel``) and, optionally,
    its tokenizer."""
    if encoder in ENCODERS:
        repository, size = ENCODERS[encoder]
        path = hub_file(repository, "config.json", token=token, offline=offline,
                        what=f"encoder={encoder!r}")
        return EncoderSource(repository, TOKENIZER_REPOSITORY.format(size=size),
                             t5_config(_read_json(path), size), local=False)
    if not os.path.isdir(encoder):
        raise DgenerateError(f"llm4gen: encoder={encoder!r} is not one of "
                             f"{', '.join(ENCODERS)}, nor a folder")
    config_path = os.path.join(encoder, "config.json")
    if not os.path.isfile(config_path):
        raise DgenerateError(f"llm4gen: encoder={encoder!r}: the folder holds no config.json")
    config = t5_config(_read_json(config_path), None)
    size = {768: "base", 1024: "large", 2048: "xl"}.get(config["d_model"], "xl")
    has_tokenizer = any(os.path.isfile(os.path.join(encoder, name))
                        for name in _TOKENIZER_FILES)
    tokenizer = encoder if has_tokenizer else TOKENIZER_REPOSITORY.format(size=size)
    return EncoderSource(encoder, tokenizer, config, local=True)


def t5_config(raw: dict[str, Any], size: str | None) -> dict[str, Any]:
    """The T5 encoder configuration of a RankGen ``config.json``: its own T5 fields when it
    has them, else the T5 v1.1 hyperparameters of ``size``."""
    if all(key in raw for key in ("d_model", "num_layers", "num_heads", "d_ff")):
        keep = ("d_model", "d_ff", "d_kv", "num_layers", "num_heads", "vocab_size",
                "relative_attention_num_buckets", "relative_attention_max_distance",
                "feed_forward_proj", "layer_norm_epsilon", "dropout_rate", "pad_token_id",
                "eos_token_id", "decoder_start_token_id")
        return {key: raw[key] for key in keep if key in raw}
    size = raw.get("model_size", size)
    if size not in _T5_SIZES:
        raise DgenerateError(f"llm4gen: the encoder's config.json names no T5 size "
                             f"({', '.join(_T5_SIZES)}) and no T5 hyperparameters")
    return {**_T5_SIZES[size], "d_kv": 64, "vocab_size": 32128,
            "feed_forward_proj": "gated-gelu"}


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            value = json.load(file)
    except (OSError, ValueError) as error:
        raise DgenerateError(f"llm4gen: cannot read {path!r}: {error}") from None
    if not isinstance(value, dict):
        raise DgenerateError(f"llm4gen: {path!r} is not a JSON object")
    return value
