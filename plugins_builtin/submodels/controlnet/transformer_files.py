"""Single weights files of SD3 and Flux ControlNets (diffusers key names; Flux ones in the
XLabs layout too, renamed first).

A single file has no config.json, and diffusers cannot load these classes from one. The
shapes of the weights tell nearly all of the configuration (widths, block counts, control
modes, extra conditioning channels); what they cannot tell (the rotary axes of Flux, the
sample size of SD3) comes from the main model's own transformer config when it can be read
without downloading, else from diffusers' defaults, which are those of the released
models. The weights must then fit the configuration exactly.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, LoadTarget
from dgenerate.plugin_api.diffusion.loading import first_paragraph
from dgenerate.plugin_api.diffusion.sources import ResolvedModel

from .families import FLUX, ControlNetClasses
from .uri import ControlNetUri

__all__ = ["derived_config", "load_transformer_file"]


def _count(state: Mapping[str, Any], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    numbers = {int(found.group(1)) for key in state if (found := pattern.match(key))}
    return max(numbers) + 1 if numbers else 0


def _shape(state: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    value = state.get(key)
    return None if value is None else tuple(int(side) for side in value.shape)


def _heads(state: Mapping[str, Any], inner: int, config: dict[str, Any], block: str) -> None:
    """Head width from the query norm's weights (when the blocks have one), and the head
    count that makes up the inner width."""
    norm = _shape(state, f"{block}.0.attn.norm_q.weight")
    if norm is not None:
        config["attention_head_dim"] = norm[0]
    config["num_attention_heads"] = max(1, inner // int(config["attention_head_dim"]))


def _flux_config(state: Mapping[str, Any], config: dict[str, Any]) -> str | None:
    embedder = _shape(state, "x_embedder.weight")
    if embedder is None:
        return "it has no x_embedder weights of a diffusers Flux ControlNet"
    inner, config["in_channels"] = embedder
    _heads(state, inner, config, "transformer_blocks")
    config["num_layers"] = _count(state, "transformer_blocks")
    config["num_single_layers"] = _count(state, "single_transformer_blocks")
    context = _shape(state, "context_embedder.weight")
    if context is not None:
        config["joint_attention_dim"] = context[1]
    pooled = _shape(state, "time_text_embed.text_embedder.linear_1.weight")
    if pooled is not None:
        config["pooled_projection_dim"] = pooled[1]
    config["guidance_embeds"] = "time_text_embed.guidance_embedder.linear_1.weight" in state
    modes = _shape(state, "controlnet_mode_embedder.weight")
    config["num_mode"] = None if modes is None else modes[0]
    hint = _shape(state, "input_hint_block.conv_out.weight")
    config["conditioning_embedding_channels"] = None if hint is None else hint[0]
    if hint is not None:
        # the embedded control image is packed into patches as wide as the latents' tokens
        config["patch_size"] = max(1, math.isqrt(int(config["in_channels"]) // hint[0]))
    return None


def _sd3_config(state: Mapping[str, Any], config: dict[str, Any]) -> str | None:
    projection = _shape(state, "pos_embed.proj.weight") or _shape(state,
                                                                   "pos_embed_input.proj.weight")
    if projection is None:
        return "it has no patch embedding (pos_embed.proj) of a diffusers SD3 ControlNet"
    inner = projection[0]
    config["patch_size"] = projection[2]
    main_projection = _shape(state, "pos_embed.proj.weight")
    config["use_pos_embed"] = main_projection is not None
    if main_projection is not None:
        config["in_channels"] = main_projection[1]
    table = _shape(state, "pos_embed.pos_embed")
    if table is not None:
        config["pos_embed_max_size"] = math.isqrt(table[1])
    extra = _shape(state, "pos_embed_input.proj.weight")
    if extra is not None:
        config["extra_conditioning_channels"] = extra[1] - int(config.get("in_channels", 16))
    config["num_layers"] = _count(state, "transformer_blocks")
    _heads(state, inner, config, "transformer_blocks")
    config["qk_norm"] = ("rms_norm" if "transformer_blocks.0.attn.norm_q.weight" in state
                         else None)
    config["dual_attention_layers"] = tuple(sorted(
        number for number in range(config["num_layers"])
        if f"transformer_blocks.{number}.attn2.to_q.weight" in state))
    context = _shape(state, "context_embedder.weight")
    if context is not None:
        config["caption_projection_dim"], config["joint_attention_dim"] = context
    else:
        config["joint_attention_dim"] = None
    pooled = _shape(state, "time_text_embed.text_embedder.linear_1.weight")
    if pooled is not None:
        config["pooled_projection_dim"] = pooled[1]
    return None


def derived_config(state: Mapping[str, Any], main: Mapping[str, Any] | None,
                   classes: ControlNetClasses) -> tuple[dict[str, Any] | None, str | None]:
    """The config of a ControlNet of ``classes`` holding ``state``, or why there is none."""
    import diffusers

    cls = getattr(diffusers, classes.plain)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    config = {key: value for key, value in (main or {}).items()
              if key in accepted and not key.startswith("_")}
    defaults = {name: parameter.default for name, parameter in
                inspect.signature(cls.__init__).parameters.items() if name in accepted}
    config = {**defaults, **config}
    reason = (_flux_config if classes is FLUX else _sd3_config)(state, config)
    return (None, reason) if reason else (config, None)


def _misfit(state: Mapping[str, Any], config: Mapping[str, Any], cls: Any) -> str | None:
    import torch

    with torch.device("meta"):
        expected = {key: tuple(value.shape)
                    for key, value in cls.from_config(dict(config)).state_dict().items()}
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            return f"its weight {key!r} has the shape {list(state[key].shape)}, not {list(shape)}"
    missing = [key for key in expected if key not in state]
    if missing:
        return f"it lacks {len(missing)} weights, such as {missing[0]!r}"
    unknown = [key for key in state if key not in expected]
    if unknown:
        return f"it has {len(unknown)} weights of no place, such as {unknown[0]!r}"
    return None


def load_transformer_file(uri: ControlNetUri, located: ResolvedModel, dtype: Any,
                          main: Mapping[str, Any] | None, target: LoadTarget,
                          classes: ControlNetClasses) -> Any:
    """The SD3 or Flux ControlNet in the single file ``located``."""
    import diffusers
    import torch
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    where = f"the file {located.location!r}"
    try:
        state = dict(load_single_file_checkpoint(located.location, local_files_only=True))
    except Exception as error:
        raise DgenerateError(f"{uri.what}: {where} cannot be read ({type(error).__name__}: "
                             f"{first_paragraph(error)})") from error
    if classes is FLUX:
        from .xlabs import is_xlabs, xlabs_to_diffusers

        if is_xlabs(state):
            state = xlabs_to_diffusers(state)
    cls = getattr(diffusers, classes.plain)
    config, reason = derived_config(state, main, classes)
    if config is not None:
        try:
            reason = _misfit(state, config, cls)
        except Exception as error:
            reason = f"{type(error).__name__}: {first_paragraph(error)}"
    if reason is not None:
        raise DgenerateError(
            f"{uri.what}: {where} is not a {classes.plain} for the {target.model_type} model "
            f"in a key layout known here (diffusers'"
            + (", or the XLabs one" if classes is FLUX else "")
            + f"): {reason}; load the ControlNet from its diffusers folder or Hugging Face "
            "repository instead")
    if config.get(classes.modes_key) is not None:
        raise DgenerateError(
            f"{uri.what}: {where} holds a union ControlNet, which loads from a diffusers folder "
            "or a Hugging Face repository (with its config.json) and takes mode=")
    with torch.device("meta"):
        model = cls.from_config(config)
    model.load_state_dict(state, strict=True, assign=True)
    if any(buffer.is_meta for buffer in model.buffers()):
        # a buffer no file holds (computed when the model is made): make it for real
        model = cls.from_config(config)
        model.load_state_dict(state, strict=True)
    return model.to(dtype=dtype)
