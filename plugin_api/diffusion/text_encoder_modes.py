"""Monolithic single-file text encoders: the ``mode=`` argument of a text encoder URI.

A single ``.safetensors`` (or ``.ckpt``) file holding one text encoder carries no
configuration; its ``mode`` says which architecture it holds. The configuration is the
one of the encoder the file replaces (the main model's own encoder in that slot, read
from its folder or the local Hugging Face cache, never downloaded) when that encoder is
of the URI's class, else a built-in configuration of the mode's architecture. The file's
weights may be in the transformers key layout, under a prefix (``cond_stage_model.
transformer.``, ``text_encoders.clip_l.transformer.`` ...), or, for CLIP models, in the
OpenCLIP layout (``transformer.resblocks...``, converted with diffusers' helper); they
must fit the configuration exactly.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from typing import Any

from ..errors import DgenerateError

__all__ = ["MODES", "Mode", "check_mode", "load_mode_file", "own_config"]


@dataclasses.dataclass(frozen=True)
class Mode:
    """One ``mode=`` value: the architecture a single file holds."""

    name: str
    family: str  # clip-l, clip-g or t5-xxl
    about: str

    @property
    def classes(self) -> tuple[str, ...]:
        if self.family == "t5-xxl":
            return ("T5EncoderModel",)
        return ("CLIPTextModel", "CLIPTextModelWithProjection")

    @property
    def prefix_hint(self) -> str:
        """How the family is named inside combined files' key prefixes."""
        return {"clip-l": "clip_l", "clip-g": "clip_g", "t5-xxl": "t5"}[self.family]


MODES: dict[str, Mode] = {mode.name: mode for mode in (
    Mode("clip-l", "clip-l", "a CLIP-L text encoder (Flux, universal)"),
    Mode("t5-xxl", "t5-xxl", "a T5-XXL encoder (Flux, universal)"),
    Mode("clip-l-sd3", "clip-l", "the CLIP-L text encoder of SD3 / SD3.5 medium"),
    Mode("clip-g-sd3", "clip-g", "the CLIP-G text encoder of SD3 / SD3.5 medium"),
    Mode("t5-xxl-sd3", "t5-xxl", "the T5-XXL encoder of SD3 / SD3.5"),
    Mode("clip-l-sd35-large", "clip-l", "the CLIP-L text encoder of SD3.5 large"),
    Mode("clip-g-sd35-large", "clip-g", "the CLIP-G text encoder of SD3.5 large"),
)}


def check_mode(name: str, cls: str, what: str) -> Mode:
    """The mode called ``name``; an unknown one, or one whose architecture is not of the
    class ``cls``, is an error."""
    mode = MODES.get(name.strip().lower())
    if mode is None:
        close = difflib.get_close_matches(name.strip().lower(), MODES, n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise DgenerateError(f"{what}: unknown mode {name!r}{hint} The modes are "
                             f"{', '.join(MODES)}")
    if cls not in mode.classes:
        raise DgenerateError(f"{what}: mode={mode.name} loads {mode.about}, which is a "
                             f"{' or '.join(mode.classes)}, not a {cls}")
    return mode


# ------------------------------------------------------------------ configurations


def _builtin_config(mode: Mode, cls: str) -> Any:
    import transformers

    if mode.family == "t5-xxl":
        return transformers.T5Config(
            vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
            relative_attention_num_buckets=32, relative_attention_max_distance=128,
            layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
            is_encoder_decoder=True, use_cache=False, pad_token_id=0, eos_token_id=1,
            decoder_start_token_id=0, architectures=[cls])
    large = mode.family == "clip-g"
    return transformers.CLIPTextConfig(
        vocab_size=49408, hidden_size=1280 if large else 768,
        intermediate_size=5120 if large else 3072, projection_dim=1280 if large else 768,
        num_hidden_layers=32 if large else 12, num_attention_heads=20 if large else 12,
        max_position_embeddings=77, hidden_act="gelu" if large else "quick_gelu",
        layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1,
        architectures=[cls])


def own_config(target: Any, slot: str, cls: str) -> tuple[Any, str] | None:
    """The configuration of the main model's own encoder in ``slot`` and where it was read,
    when it is of the class ``cls`` and readable without downloading; else None."""
    import transformers

    from .loading import _config_repository, hub_offline

    model = getattr(target, "model", None)
    if model is None:
        return None
    config_class = getattr(transformers, cls).config_class
    subfolder = "/".join(filter(None, ((target.subfolder or "").strip("/"), slot)))
    options: dict[str, Any] = {"local_files_only": True}
    if model.kind == "folder":
        location = os.path.join(model.location, subfolder)
        options = {}
        if not os.path.isfile(os.path.join(location, "config.json")):
            return None
        try:
            with open(os.path.join(location, "config.json"), encoding="utf-8") as file:
                saved = json.load(file)
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or cls not in (saved.get("architectures") or [cls]):
            return None
        subfolder = ""
    elif model.kind == "hub":
        location = model.location
        options["revision"] = getattr(target, "revision", None) or "main"
    else:
        repository = _config_repository(model.location)
        if repository is None:
            return None
        location, subfolder = repository, slot
    try:
        with hub_offline(True):
            config = config_class.from_pretrained(location, subfolder=subfolder or "",
                                                  token=getattr(target, "token", None),
                                                  **options)
    except Exception:
        return None
    if config.architectures and cls not in config.architectures:
        return None
    where = os.path.join(location, subfolder) if model.kind == "folder" else (
        f"{location}/{subfolder}")
    return config, f"the model's own {slot} ({where})"


# ------------------------------------------------------------------ weights


def _prefixes(keys: list[str], marker: str) -> list[str]:
    return sorted({key[:key.index(marker)] for key in keys if marker in key
                   and (key.index(marker) == 0 or key[key.index(marker) - 1] == ".")})


def _choose(prefixes: list[str], mode: Mode, what: str, where: str) -> str:
    if len(prefixes) == 1:
        return prefixes[0]
    named = [prefix for prefix in prefixes if mode.prefix_hint in prefix.lower()]
    if len(named) == 1:
        return named[0]
    raise DgenerateError(f"{what}: {where} holds several text encoders (key prefixes "
                         f"{', '.join(map(repr, prefixes))}); it is not a single text encoder "
                         f"for mode={mode.name}")


def _under(checkpoint: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {key[len(prefix):]: value for key, value in checkpoint.items()
            if key.startswith(prefix)}


def _clip_weights(checkpoint: Mapping[str, Any], mode: Mode, cls: str, config: Any,
                  what: str, where: str) -> dict[str, Any]:
    keys = list(checkpoint)
    open_clip = _prefixes(keys, "transformer.resblocks.")
    if open_clip:
        from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

        prefix = _choose(open_clip, mode, what, where)
        holder = type("Holder", (), {"config": config})()
        # a neutral prefix: diffusers skips some keys under SD 2's own (its last layer)
        state = convert_open_clip_checkpoint(
            holder, {"open_clip." + key: value for key, value in _under(checkpoint,
                                                                       prefix).items()},
            prefix="open_clip.")
    else:
        found = _prefixes(keys, "text_model.embeddings.token_embedding.weight")
        if found:
            prefix = _choose(found, mode, what, where)
            state = _under(checkpoint, prefix)
        else:
            # an older layout: the text model's parts right under the prefix
            found = _prefixes(keys, "embeddings.token_embedding.weight")
            if not found:
                return {}
            prefix = _choose(found, mode, what, where)
            state = {(name if name.startswith("text_projection") else "text_model." + name):
                     value for name, value in _under(checkpoint, prefix).items()}
    state.pop("text_model.embeddings.position_ids", None)
    state.pop("logit_scale", None)
    if cls == "CLIPTextModel":
        state.pop("text_projection.weight", None)
    return state


def _t5_weights(checkpoint: Mapping[str, Any], mode: Mode, what: str,
                where: str) -> dict[str, Any]:
    found = _prefixes(list(checkpoint), "encoder.block.0.layer.0.SelfAttention.q.weight")
    if not found:
        return {}
    prefix = _choose(found, mode, what, where)
    state = {name: value for name, value in _under(checkpoint, prefix).items()
             if not name.startswith(("decoder.", "lm_head."))}
    if "shared.weight" not in state and "encoder.embed_tokens.weight" in state:
        state["shared.weight"] = state["encoder.embed_tokens.weight"]
    if "encoder.embed_tokens.weight" not in state and "shared.weight" in state:
        state["encoder.embed_tokens.weight"] = state["shared.weight"]
    return state


def _check_fits(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]],
                what: str, where: str, fits: str, nothing: str,
                other: str = "another architecture or size than mode= says?") -> None:
    """``state`` has exactly the names and shapes of ``expected``: ``fits`` names the
    configuration, ``nothing`` is the error when ``state`` is empty."""
    if not state:
        raise DgenerateError(f"{what}: {nothing}")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            raise DgenerateError(
                f"{what}: the weights of {where} do not fit {fits}: {key!r} has the shape "
                f"{list(state[key].shape)}, and {list(shape)} in that configuration ({other})")
    missing = [key for key in expected if key not in state]
    if missing:
        raise DgenerateError(f"{what}: {where} lacks {len(missing)} weights of {fits}, such "
                             f"as {missing[0]!r}")
    unknown = [key for key in state if key not in expected]
    if unknown:
        raise DgenerateError(f"{what}: {where} has {len(unknown)} weights {fits} has no place "
                             f"for, such as {unknown[0]!r}")


def load_mode_file(what: str, location: str, mode: Mode, cls_name: str, config_found: Any,
                   dtype: Any, quantization: Any = None) -> Any:
    """The text encoder in the single file ``location``: built from ``config_found`` (from
    :func:`own_config`) or the mode's built-in configuration; the weights must fit it."""
    import transformers
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    cls = getattr(transformers, cls_name)
    if config_found is None:
        config, configured = _builtin_config(mode, cls_name), "dgenerate's built-in one"
    else:
        config, configured = config_found
    where = f"the checkpoint {location!r}"
    try:
        checkpoint = load_single_file_checkpoint(location, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{what}: {where} cannot be read ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:300]})") from error
    if mode.family == "t5-xxl":
        state = _t5_weights(checkpoint, mode, what, where)
    else:
        state = _clip_weights(checkpoint, mode, cls_name, config, what, where)
    state = fit_state(cls, config, state, clip=mode.family != "t5-xxl")
    _check_fits(state, expected_shapes(cls, config), what, where,
                f"the {mode.name} configuration of {configured}",
                f"{where} holds no {mode.about} weights in a layout known for mode={mode.name}")
    return build_encoder(cls, config, state, dtype, quantization, what=what,
                         failure=f"cannot load the mode={mode.name} text encoder from {where}")


def expected_shapes(cls: Any, config: Any) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the weights of ``cls(config)`` (built on the meta device)."""
    import torch

    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in cls(config).state_dict().items()}
    expected.pop("text_model.embeddings.position_ids", None)
    expected.pop("embeddings.position_ids", None)
    return expected


def fit_state(cls: Any, config: Any, state: dict[str, Any], *, clip: bool) -> dict[str, Any]:
    """CLIP weights named as this transformers' CLIP classes name them (some have no
    ``text_model`` wrapper, so their names lack that prefix)."""
    if clip and not any(key.startswith("text_model.") for key in expected_shapes(cls, config)):
        return {key.removeprefix("text_model."): value for key, value in state.items()}
    return state


def build_encoder(cls: Any, config: Any, state: dict[str, Any], dtype: Any,
                  quantization: Any = None, *, what: str, failure: str) -> Any:
    """``cls`` configured by ``config`` with the (checked) weights ``state``."""
    options: dict[str, Any] = {}
    if quantization is not None:
        options["quantization_config"] = quantization
    try:
        encoder = cls.from_pretrained(None, config=config, state_dict=state, dtype=dtype,
                                      **options)
    except Exception as error:
        raise DgenerateError(f"{what}: {failure}: {type(error).__name__}: "
                             f"{' '.join(str(error).split())[:300]}") from error
    return encoder.eval()
