"""Text encoders taken out of a whole model saved as one file: a text encoder URI naming a
single ``.safetensors`` / ``.ckpt`` file with ``subfolder=text_encoder`` (or
``text_encoder_2``, or the key prefix of the encoder in the file).

Whole-model checkpoints keep their encoders under fixed key prefixes: Stable Diffusion 1.x
``cond_stage_model.transformer.`` (transformers layout), 2.x ``cond_stage_model.model.``
(OpenCLIP layout, of which diffusers drops the last layer), SDXL
``conditioner.embedders.0.transformer.`` and ``conditioner.embedders.1.model.`` (OpenCLIP
bigG with its projection; the refiner's only encoder is ``conditioner.embedders.0.model.``),
and files saved from a diffusers pipeline ``text_encoder.`` / ``text_encoder_2.``. Only the
encoder's part of the file is read (for ``.safetensors``). The configuration is the one of
the encoder the URI replaces (the main model's own, see :func:`own_config`), else one read
from the weights' shapes; the weights must fit it exactly.
"""

from __future__ import annotations

import json
import os
import re
import struct
import types
from collections.abc import Mapping
from typing import Any

from ..errors import DgenerateError
from .text_encoder_modes import (
    MODES,
    _check_fits,
    _clip_weights,
    build_encoder,
    expected_shapes,
    fit_state,
)

__all__ = ["SLOT_PREFIXES", "checkpoint_part_size", "held_encoders", "load_checkpoint_encoder"]

#: the key prefixes under which whole-model checkpoints keep the encoder of each slot, in
#: the order they are looked for
SLOT_PREFIXES: dict[str, tuple[str, ...]] = {
    "text_encoder": ("text_encoder.", "cond_stage_model.transformer.",
                     "cond_stage_model.model.", "conditioner.embedders.0.transformer."),
    "text_encoder_2": ("text_encoder_2.", "conditioner.embedders.1.model.",
                       "conditioner.embedders.0.model."),
}
#: Stable Diffusion 2.x: OpenCLIP, of which the pipeline uses all layers but the last
_SD2_PREFIX = "cond_stage_model.model."
_MARKERS = ("embeddings.token_embedding.weight", "token_embedding.weight")


def _safetensors_header(path: str) -> dict[str, Any] | None:
    if not path.lower().endswith(".safetensors"):
        return None
    try:
        with open(path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(length))
    except (OSError, ValueError, struct.error):
        return None
    header.pop("__metadata__", None)
    return header


def _keys_and_reader(path: str, what: str, where: str) -> tuple[list[str], Any]:
    """The file's keys, and a function reading the weights under a prefix (of a
    ``.safetensors`` file only those; of a pickle the whole file is loaded once)."""
    header = _safetensors_header(path)
    if header is not None:
        def read(prefix: str) -> dict[str, Any]:
            from safetensors import safe_open

            with safe_open(path, framework="pt") as file:
                return {key[len(prefix):]: file.get_tensor(key) for key in header
                        if key.startswith(prefix)}

        return list(header), read
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    try:
        checkpoint = load_single_file_checkpoint(path, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{what}: {where} cannot be read ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:300]})") from error

    def read_loaded(prefix: str) -> dict[str, Any]:
        return {key[len(prefix):]: value for key, value in checkpoint.items()
                if key.startswith(prefix)}

    return list(checkpoint), read_loaded


def _has_encoder(keys: list[str], prefix: str) -> bool:
    return any(key.startswith(prefix) and key.endswith(_MARKERS) for key in keys)


def held_encoders(keys: list[str]) -> list[str]:
    """What a checkpoint with these keys holds: ``slot (under 'prefix')`` for each known
    encoder prefix, and the other key prefixes of text encoder weights."""
    found: list[str] = []
    used: set[str] = set()
    for slot, prefixes in SLOT_PREFIXES.items():
        for prefix in prefixes:
            if prefix not in used and _has_encoder(keys, prefix):
                found.append(f"{slot} (under {prefix!r})")
                used.add(prefix)
                break
    others = sorted({key[:-len(marker)] for key in keys for marker in _MARKERS
                     if key.endswith(marker)})
    others = [prefix for prefix in others
              if not any(prefix.startswith(known) for known in used)]
    found.extend(f"a text encoder under the key prefix {prefix!r}" for prefix in others
                 if not any(prefix.startswith(other) and prefix != other for other in others))
    return found


def _prefix(keys: list[str], subfolder: str) -> tuple[str, list[str]]:
    """The key prefix of the encoder ``subfolder`` names and the prefixes looked at."""
    name = subfolder.strip().strip("/")
    candidates = SLOT_PREFIXES.get(name, (name.strip(".") + ".",))
    for prefix in candidates:
        if _has_encoder(keys, prefix):
            return prefix, list(candidates)
    return "", list(candidates)


def checkpoint_part_size(path: str, subfolder: str) -> int:
    """An estimate of the bytes of the encoder ``subfolder`` names in the file ``path``."""
    header = _safetensors_header(path)
    if header is None:
        try:
            return os.path.getsize(path)
        except OSError:
            return 0
    prefix, _ = _prefix(list(header), subfolder)
    if not prefix:
        return 0
    return sum(int(entry["data_offsets"][1]) - int(entry["data_offsets"][0])
               for key, entry in header.items() if key.startswith(prefix)
               and isinstance(entry, dict) and "data_offsets" in entry)


def _layers(state: Mapping[str, Any], pattern: str) -> list[int]:
    found = re.compile(pattern)
    return sorted({int(match.group(1)) for key in state if (match := found.match(key))})


def _config_from_weights(part: Mapping[str, Any], cls_name: str, open_clip: bool,
                         sd2: bool) -> Any:
    """A CLIP text configuration read from the weights' shapes (attention heads of 64
    features, as the released CLIP models have; OpenCLIP models use gelu, OpenAI's CLIP
    quick_gelu)."""
    import transformers

    def first(suffix: str) -> Any:
        for key, value in part.items():
            if key.endswith(suffix):
                return value
        raise KeyError(suffix)

    vocab, hidden = (int(size) for size in first("token_embedding.weight").shape)
    positions = int(first("positional_embedding" if open_clip
                          else "position_embedding.weight").shape[0])
    layers = _layers(part, r"(?:.*\.)?(?:resblocks|layers)\.(\d+)\.")
    intermediate = int(first("c_fc.weight" if open_clip else "fc1.weight").shape[0])
    projection = hidden
    if open_clip and any(key.endswith("text_projection") for key in part):
        projection = int(first("text_projection").shape[1])
    elif any(key.endswith("text_projection.weight") for key in part):
        projection = int(first("text_projection.weight").shape[0])
    count = len(layers) - (1 if sd2 else 0)
    return transformers.CLIPTextConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate,
        projection_dim=projection, num_hidden_layers=count,
        num_attention_heads=max(1, hidden // 64), max_position_embeddings=positions,
        hidden_act="gelu" if open_clip else "quick_gelu", layer_norm_eps=1e-5,
        architectures=[cls_name])


def load_checkpoint_encoder(what: str, location: str, subfolder: str, cls_name: str,
                            config_found: tuple[Any, str] | None, dtype: Any) -> Any:
    """The text encoder ``subfolder`` names (a slot name or a key prefix) in the
    whole-model checkpoint ``location``, of the class ``cls_name``, configured by
    ``config_found`` (from :func:`own_config`) or from the weights' shapes."""
    import transformers

    cls = getattr(transformers, cls_name)
    where = f"the checkpoint {location!r}"
    keys, read = _keys_and_reader(location, what, where)
    prefix, looked = _prefix(keys, subfolder)
    if not prefix:
        held = held_encoders(keys)
        holds = ("it holds " + "; ".join(held)) if held else (
            "it holds no text encoder (its keys start with "
            + ", ".join(map(repr, sorted({key.split(".", 1)[0] for key in keys})[:8])) + ")")
        raise DgenerateError(
            f"{what}: {where} holds no text encoder {subfolder!r} (looked under the key "
            f"prefix{'es' if len(looked) > 1 else ''} {', '.join(map(repr, looked))}); {holds}")
    part = read(prefix)
    open_clip = any(key.startswith("transformer.resblocks.") or ".transformer.resblocks."
                    in key for key in part)
    sd2 = open_clip and prefix == _SD2_PREFIX
    if config_found is None:
        try:
            config = _config_from_weights(part, cls_name, open_clip, sd2)
        except (KeyError, IndexError, ValueError) as missing:
            raise DgenerateError(f"{what}: the weights under {prefix!r} in {where} are not "
                                 f"a CLIP text encoder (no {missing})") from None
        configured = f"the configuration read from the weights under {prefix!r}"
    else:
        config, configured = config_found
    mode = MODES["clip-g-sd3" if open_clip else "clip-l"]
    holder_config = types.SimpleNamespace(hidden_size=getattr(config, "hidden_size", None))
    state = _clip_weights(part, mode, cls_name, holder_config, what, where)
    if open_clip:
        # Stable Diffusion 2.x uses all layers but the last: drop it, as diffusers does
        layers = _layers(state, r"text_model\.encoder\.layers\.(\d+)\.")
        wanted = int(getattr(config, "num_hidden_layers", 0) or 0)
        if sd2 and layers and len(layers) == wanted + 1:
            extra = f"text_model.encoder.layers.{layers[-1]}."
            state = {key: value for key, value in state.items() if not key.startswith(extra)}
    state = fit_state(cls, config, state, clip=True)
    _check_fits(state, expected_shapes(cls, config), what, where,
                f"the {cls_name} of {configured}",
                f"{where} holds no {cls_name} weights under {prefix!r}",
                other="an encoder of another architecture or size than the one it replaces?")
    return build_encoder(cls, config, state, dtype, what=what,
                         failure=f"cannot load the text encoder under {prefix!r} of {where}")
