"""Loading one ControlNet: from a diffusers folder or a Hugging Face repository (a plain or a
union ControlNet, as its config.json says), or from a single weights file.

A single file holds no configuration. A ControlNet is a copy of the encoder half of the UNet
it guides, so its configuration is made from the configuration of the model's own UNet and
the shapes of the file's control-image embedding; the weights must then fit it exactly.
When that configuration cannot be read or does not fit, diffusers' own single-file loader
tries (it recognizes the published ControlNets and takes their configuration from the
Hugging Face hub). Both the diffusers key layout and the original one (``control_model.``
keys) are understood.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from dgenerate.plugin_api import Category, DgenerateError, LoadTarget
from dgenerate.plugin_api.diffusion.components import main_folder_config, main_unet_config
from dgenerate.plugin_api.diffusion.devices import resolve_dtype
from dgenerate.plugin_api.diffusion.loading import (
    describe_component_failure,
    error_chain,
    first_paragraph,
    hub_offline,
    where_text,
)
from dgenerate.plugin_api.diffusion.sources import (
    MODEL_FILE_SUFFIXES,
    ResolvedModel,
    resolve_model,
)

from .families import UNET, classes_for
from .uri import ControlNetUri

__all__ = ["PLAIN", "UNION", "check_folder", "load_controlnet", "locate", "quantizer",
           "saved_config"]

PLAIN = UNET.plain
UNION = UNET.union
#: key prefix of the ControlNet in original-layout files
_LDM_PREFIX = "control_model."
#: keys only union ControlNets have
_UNION_KEYS = ("task_embedding", "control_add_embedding.linear_1.weight")


def locate(uri: ControlNetUri, context: Any, *, token: str | None) -> ResolvedModel:
    """Where the ControlNet is; URLs and blob links are downloaded (or found in their cache)."""
    try:
        return resolve_model(uri.path, fetch=context.fetch, token=token,
                             offline=context.offline_mode)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: {error}") from None


def quantizer(uri: ControlNetUri, context: Any, *, device: str | None) -> Any:
    """The quantizer plugin of ``quantizer=`` (None when not given)."""
    if uri.quantizer is None:
        return None
    extra = {} if device is None else {"device": device}
    try:
        return context.create(Category.QUANTIZER, uri.quantizer, **extra)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: quantizer={uri.quantizer!r}: {error}") from None


def _folder(uri: ControlNetUri, location: str) -> str:
    return os.path.join(location, uri.subfolder) if uri.subfolder else location


def check_folder(uri: ControlNetUri, location: str) -> None:
    """A ControlNet folder (or its subfolder) holds a config.json."""
    folder = _folder(uri, location)
    if uri.subfolder and not os.path.isdir(folder):
        raise DgenerateError(f"{uri.what}: the folder {location!r} has no subfolder "
                             f"{uri.subfolder!r}")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        hint = ("; it holds a whole pipeline: add subfolder=controlnet" if os.path.isfile(
            os.path.join(folder, "controlnet", "config.json")) else "")
        raise DgenerateError(f"{uri.what}: {folder!r} is not a diffusers ControlNet folder "
                             f"(it has no config.json){hint}")


def saved_config(uri: ControlNetUri, context: Any) -> dict[str, Any] | None:
    """The ControlNet's config.json, when it can be read without loading or downloading
    anything (a folder, or a repository in the local Hugging Face cache); else None (always
    for single files, which have none)."""
    if uri.is_single_file:
        return None
    local = os.path.expanduser(uri.path)
    path: str | None = None
    if os.path.isdir(local):
        path = os.path.join(_folder(uri, local), "config.json")
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(
                uri.path, "/".join(filter(None, (uri.subfolder, "config.json"))),
                revision=uri.revision or "main")
        except Exception:
            found = None
        path = found if isinstance(found, str) else None
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def load_controlnet(uri: ControlNetUri, context: Any, target: LoadTarget, *,
                    cache: str = "controlnet") -> Any:
    """The ControlNet of ``uri`` for a model loading as ``target``, through the ``cache``
    object cache (one ControlNet given to several pipelines loads once)."""
    located = locate(uri, context, token=target.token)
    dtype = target.dtype if uri.dtype is None else resolve_dtype(uri.dtype, target.device)
    classes = classes_for(target.model_type)
    borrowed: Hashable = None
    main = None
    if located.kind == "file":
        main = (main_folder_config(target, "transformer") if classes.transformer
                else main_unet_config(target))
        # a single file takes its configuration from the model's UNet: part of what it is
        borrowed = None if main is None else json.dumps(
            {key: value for key, value in main.items() if not key.startswith("_")},
            sort_keys=True, default=str)
    where = located.location if located.kind == "hub" else os.path.abspath(located.location)
    key = ("controlnet", classes.plain, located.kind, where, uri.revision or "main",
           uri.variant, uri.subfolder, str(dtype), uri.quantizer, borrowed, target.device)

    def create() -> Any:
        context.debug(f"loading the ControlNet of {uri.what} from {located.location!r} "
                      f"({dtype}" + (f", variant {uri.variant}" if uri.variant else "") + ")")
        with hub_offline(target.offline), _quiet(getattr(context, "verbose", False)):
            if located.kind == "file" and classes.transformer:
                from .transformer_files import load_transformer_file

                model = load_transformer_file(uri, located, dtype, main, target, classes)
            elif located.kind == "file":
                model = _load_file(uri, located, dtype, main, target)
            else:
                model = _load_pretrained(uri, located, dtype, target, context)
            return model.to(target.device).eval()

    return context.cache(cache).get_or_create(key, create, size=_size(uri, located))


def _size(uri: ControlNetUri, located: ResolvedModel) -> int:
    """Bytes of the weights on disk (an estimate of the memory the ControlNet takes)."""
    if located.kind == "file":
        return os.path.getsize(located.location)
    if located.kind != "folder":
        return 0
    total = 0
    for root, _, files in os.walk(_folder(uri, located.location)):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files
                     if name.endswith(MODEL_FILE_SUFFIXES))
    return total


# ------------------------------------------------------- folders and repositories


def _failure(uri: ControlNetUri, located: ResolvedModel, error: Exception, offline: bool,
             what_file: str) -> str:
    hint = (f" in its subfolder {uri.subfolder!r}" if uri.subfolder else
            " (when the ControlNet is in a subfolder of the repository, add subfolder=)")
    return describe_component_failure(uri.what, located, error, revision=uri.revision,
                                      offline=offline, what_file=what_file, missing_hint=hint,
                                      component="ControlNet")


def _variant_missing(error: BaseException, variant: str | None) -> bool:
    return variant is not None and any(
        variant in str(cause) or "variant" in str(cause).lower() for cause in error_chain(error))


def _load_pretrained(uri: ControlNetUri, located: ResolvedModel, dtype: Any,
                     target: LoadTarget, context: Any) -> Any:
    import diffusers

    options: dict[str, Any] = {"local_files_only": target.offline}
    if uri.subfolder:
        options["subfolder"] = uri.subfolder
    if located.kind == "hub":
        options["revision"] = uri.revision or "main"
        if target.token:
            options["token"] = target.token
    else:
        check_folder(uri, located.location)
    try:
        config = diffusers.ControlNetModel.load_config(located.location, **options)
    except Exception as error:
        raise DgenerateError(_failure(uri, located, error, target.offline, "config.json")
                             ) from error
    name = config.get("_class_name") if isinstance(config, Mapping) else None
    classes = classes_for(target.model_type)
    if name not in classes.names:
        raise DgenerateError(
            f"{uri.what}: {where_text(located, uri.revision)} holds a model of the class "
            f"{name or 'unknown'}, not a ControlNet of --model-type {target.model_type} "
            f"({classes.describe()})")
    cls = getattr(diffusers, name)
    made = quantizer(uri, context, device=target.device)
    if made is not None:
        config_object = made.diffusers_config()
        if config_object is not None:
            options["quantization_config"] = config_object
    try:
        return cls.from_pretrained(located.location, torch_dtype=dtype, variant=uri.variant,
                                   **options)
    except Exception as error:
        if _variant_missing(error, uri.variant):
            raise DgenerateError(
                f"{uri.what}: {where_text(located, uri.revision)} has no weights of the variant "
                f"{uri.variant!r} (diffusion_pytorch_model.{uri.variant}.safetensors)"
            ) from error
        if located.kind == "hub":
            raise DgenerateError(_failure(uri, located, error, target.offline, "the weights")
                                 ) from error
        raise DgenerateError(f"{uri.what}: cannot load the ControlNet from "
                             f"{where_text(located)}: {first_paragraph(error)}") from error


# ------------------------------------------------------------------ single files


def _is_ldm(state: Mapping[str, Any]) -> bool:
    return any(key.startswith(_LDM_PREFIX) or key.startswith(("input_hint_block.",
                                                              "time_embed.0."))
               for key in state)


def _to_diffusers(state: Mapping[str, Any], main: Mapping[str, Any]) -> dict[str, Any]:
    """Original-layout ControlNet weights in diffusers' key names."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    converted = dict(convert_controlnet_checkpoint(dict(state), dict(main)))
    converted = {key: value for key, value in converted.items() if value is not None}
    # SDXL's added conditioning (label_emb), which the conversion leaves out
    plain = {key[len(_LDM_PREFIX):] if key.startswith(_LDM_PREFIX) else key: value
             for key, value in state.items()}
    for index, layer in ((0, "linear_1"), (2, "linear_2")):
        for leaf in ("weight", "bias"):
            value = plain.get(f"label_emb.0.{index}.{leaf}")
            if value is not None:
                embedding = ("add_embedding" if main.get("addition_embed_type") else
                             "class_embedding")
                converted[f"{embedding}.{layer}.{leaf}"] = value
    return converted


def _embedding_shape(state: Mapping[str, Any]) -> tuple[int, tuple[int, ...]] | None:
    """The control image channels and the channels of the control-image embedding's levels,
    read from the shapes of its weights."""
    conv_in = state.get("controlnet_cond_embedding.conv_in.weight")
    if conv_in is None or len(conv_in.shape) != 4:
        return None
    channels = [int(conv_in.shape[0])]
    index = 1
    while f"controlnet_cond_embedding.blocks.{index}.weight" in state:
        channels.append(int(state[f"controlnet_cond_embedding.blocks.{index}.weight"].shape[0]))
        index += 2
    return int(conv_in.shape[1]), tuple(channels)


def _derived_config(state: Mapping[str, Any], main: Mapping[str, Any]) -> dict[str, Any] | None:
    """The configuration of a ControlNet of the model's UNet with the file's control-image
    embedding (None when the file has none)."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    shape = _embedding_shape(state)
    if shape is None:
        return None
    conditioning_channels, embedding = shape
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unet = UNet2DConditionModel.from_config(
            {key: value for key, value in main.items() if not key.startswith("_")})
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=embedding,
                                        load_weights_from_unet=False,
                                        conditioning_channels=conditioning_channels)
    return {key: value for key, value in net.config.items() if not key.startswith("_")}


def _misfit(state: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """Why ``state`` does not fit a ControlNet of ``config`` (None when it fits exactly)."""
    import torch
    from diffusers import ControlNetModel

    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in
                    ControlNetModel.from_config(dict(config)).state_dict().items()}
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            return (f"its weight {key!r} has the shape {list(state[key].shape)} where a "
                    f"ControlNet of the model's UNet has {list(shape)}")
    missing = [key for key in expected if key not in state]
    if missing:
        return f"it lacks {len(missing)} weights of such a ControlNet, such as {missing[0]!r}"
    unknown = [key for key in state if key not in expected]
    if unknown:
        return (f"it has {len(unknown)} weights such a ControlNet has no place for, such as "
                f"{unknown[0]!r}")
    return None


def _load_file(uri: ControlNetUri, located: ResolvedModel, dtype: Any,
               main: Mapping[str, Any] | None, target: LoadTarget) -> Any:
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    where = f"the file {located.location!r}"
    try:
        checkpoint = load_single_file_checkpoint(located.location, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{uri.what}: {where} cannot be read ({type(error).__name__}: "
                             f"{first_paragraph(error)})") from error
    if any(key in checkpoint for key in _UNION_KEYS):
        raise DgenerateError(
            f"{uri.what}: {where} holds a union ControlNet, which loads from a diffusers folder "
            "or a Hugging Face repository (with its config.json) and takes mode=")
    reason = ("the configuration of the model's own UNet cannot be read here"
              if main is None else None)
    if main is not None:
        try:
            state = _to_diffusers(checkpoint, main) if _is_ldm(checkpoint) else dict(checkpoint)
            config = _derived_config(state, main)
        except Exception as error:
            state, config = {}, None
            reason = f"{type(error).__name__}: {first_paragraph(error)}"
        if config is None and reason is None:
            reason = "it has no control-image embedding (controlnet_cond_embedding)"
        elif config is not None:
            reason = _misfit(state, config)
            if reason is None:
                return _assemble(state, config, dtype)
    # not a ControlNet of the model's UNet: diffusers may know the file's architecture
    try:
        return ControlNetModel.from_single_file(
            located.location, torch_dtype=dtype, token=target.token,
            local_files_only=target.offline)
    except Exception as error:
        raise DgenerateError(
            f"{uri.what}: {where} is not a ControlNet of the UNet of the {target.model_type} "
            f"model ({reason}), and diffusers could not load it by itself either "
            f"({type(error).__name__}: {first_paragraph(error)})") from error


def _assemble(state: Mapping[str, Any], config: Mapping[str, Any], dtype: Any) -> Any:
    """A ControlNet of ``config`` holding the tensors of ``state`` (no random initialization
    on the way: the model is made on the meta device and takes the tensors)."""
    import torch
    from diffusers import ControlNetModel

    with torch.device("meta"):
        model = ControlNetModel.from_config(dict(config))
    model.load_state_dict(dict(state), strict=True, assign=True)
    return model.to(dtype=dtype)


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Keep the libraries' notes (dtype casts, variant lookups) off the console while a
    ControlNet loads; -v shows them."""
    if verbose:
        yield
        return
    import diffusers.utils.logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity(diffusers_logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        diffusers_logging.set_verbosity(level)
