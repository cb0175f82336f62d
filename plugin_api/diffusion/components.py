"""Loading one pipeline component by itself: a UNet given by a URI.

``--unet`` and ``--second-model-unet`` (the SDXL refiner's) share this code: a
family passes the loaded UNet to its pipeline's ``from_pretrained`` as the ``unet``
keyword. A UNet URI is ``PATH;revision=...;variant=...;subfolder=...;dtype=...;
quantizer=...``; PATH is a Hugging Face repository id, a diffusers folder, a single
weights file, a Hugging Face blob link or a URL (downloaded into the web cache).

A single file holds no configuration: it takes the one of the UNet of the model it
is given to (the folder or repository of that model, or the repository diffusers
matches a single-file model with), and its weights must fit it exactly. It may be a
UNet by itself, in the diffusers or the original (LDM) key layout, or a whole model:
the UNet is then the part under the key prefix ``subfolder`` (``unet`` or the original
layout's ``model.diffusion_model`` when not given).

Every mistake is a :class:`DgenerateError` naming the option and the URI; loaded
UNets are kept in the context's ``unet`` object cache under their creation
parameters, so one UNet given to several pipelines loads once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, Literal

from ..args import ArgSpec
from ..errors import DgenerateError
from ..interfaces.sub_model import LoadTarget
from ..specs import Category
from .devices import resolve_dtype
from .loading import (
    _variants_only,
    describe_component_failure,
    error_chain,
    first_paragraph,
    hub_offline,
    where_text,
)
from .sources import MODEL_FILE_SUFFIXES, ResolvedModel, resolve_model

__all__ = ["UNET_ARGUMENTS", "UNetUri", "check_unet_uri", "load_unet", "main_unet_config",
           "parse_unet_uri", "unet_key"]

UNET_ARGUMENTS = (
    ArgSpec(name="revision", type=str | None, default=None,
            help="the branch, tag or commit of a Hugging Face repository (default main)"),
    ArgSpec(name="variant", type=str | None, default=None,
            help="the weights variant (diffusion_pytorch_model.<variant>.safetensors); "
                 "default --variant, null for none"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the UNet's folder in the repository or folder; in a single file that holds "
                 "a whole model, the key prefix of its UNet (default unet)"),
    ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
            default=None, help="the UNet's precision (default: the model's --dtype)"),
    ArgSpec(name="quantizer", type=str | None, default=None,
            help="a --quantizer URI quantizing this UNet while it loads"),
)

#: the settings of a UNet's configuration that the rest of a pipeline depends on: a UNet
#: that differs from the model's own in one of them cannot work in its place
_INTERFACE = {
    "in_channels": "the latent channels it takes; inpainting and InstructPix2Pix UNets take "
                   "more",
    "out_channels": "the latent channels it predicts",
    "cross_attention_dim": "the width of the text embeddings it attends to; a UNet of another "
                           "model family?",
    "encoder_hid_dim": "the width of the text embeddings it projects",
    "encoder_hid_dim_type": "how it projects the text embeddings",
    "addition_embed_type": "its added conditioning; SDXL's is text_time",
    "addition_time_embed_dim": "the width of its size and crop conditioning",
    "projection_class_embeddings_input_dim": "the width of its pooled text and size "
                                             "conditioning; an SDXL base or refiner UNet?",
    "class_embed_type": "its class conditioning",
    "num_class_embeds": "its number of conditioning classes",
}
_DEFAULT_CLASS = "UNet2DConditionModel"
#: the key prefix of the UNet in an original (LDM) whole-model checkpoint
_LDM_PREFIX = "model.diffusion_model."
_NO_VARIANT = ("null", "none")


@dataclasses.dataclass(frozen=True)
class UNetUri:
    """A parsed UNet URI: ``text`` as written, ``option`` the flag it came with."""

    text: str
    option: str
    path: str
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None
    quantizer: str | None = None

    @property
    def what(self) -> str:
        """How messages name it: ``--unet 'path;dtype=float16'``."""
        return f"{self.option} {self.text!r}"

    @property
    def is_url(self) -> bool:
        return self.path.lower().startswith(("http://", "https://"))

    @property
    def is_single_file(self) -> bool:
        """Whether PATH is one weights file (told without downloading anything)."""
        if self.is_url:
            return True
        local = os.path.expanduser(self.path)
        if os.path.isdir(local):
            return False
        return os.path.isfile(local) or local.lower().endswith(MODEL_FILE_SUFFIXES)

    @property
    def no_variant(self) -> bool:
        """``variant=null``: the plain weights even when ``--variant`` is given."""
        return self.variant is not None and self.variant.lower() in _NO_VARIANT

    def variant_for(self, target: LoadTarget) -> str | None:
        """The variant to load: the URI's, else the model's (``--variant``)."""
        if self.no_variant:
            return None
        return self.variant if self.variant is not None else target.variant


def parse_unet_uri(text: str, context: Any, *, option: str = "--unet") -> UNetUri:
    """Split and bind the arguments of a UNet URI (nothing is loaded or looked at)."""
    try:
        path, arguments = context.parse_uri(text, UNET_ARGUMENTS, owner=option)
    except DgenerateError as error:
        message = str(error)
        if option in message:
            raise DgenerateError(f"{message} (in {option} {text!r})") from None
        raise DgenerateError(f"{option} {text!r}: {message}") from None
    uri = UNetUri(text=text, option=option, path=path.strip(), **arguments)
    if not uri.path:
        raise DgenerateError(f"{uri.what} names no UNet: it starts with the UNet's path (a "
                             "Hugging Face repository id, a folder, a file or a URL)")
    return uri


def check_unet_uri(uri: UNetUri, context: Any) -> None:
    """Refuse what cannot load, before anything loads: arguments a single file does not
    take, a file or folder that does not exist, an unknown quantizer."""
    if uri.is_single_file:
        refused = [name for name in ("revision", "variant") if getattr(uri, name) is not None
                   and not (name == "variant" and uri.no_variant)]
        if refused:
            raise DgenerateError(
                f"{uri.what}: {uri.path!r} is a single file, which takes only the arguments "
                f"subfolder (the key prefix of the UNet in a whole-model file) and dtype; not "
                f"{', '.join(refused)}")
        if uri.quantizer is not None:
            # diffusers' single-file loader leaves some backends' weights unloaded
            raise DgenerateError(
                f"{uri.what}: a single-file UNet cannot be quantized while it loads; for "
                "quantizer= give the UNet as a diffusers folder or a Hugging Face repository")
    elif uri.quantizer is not None:
        _quantizer(uri, context, device=None)
    if not uri.is_url:
        _locate(uri, context, token=None)  # a missing file or folder fails now


def unet_key(uri: UNetUri) -> Hashable:
    """What a pipeline loaded with this UNet depends on from its URI (for its cache key)."""
    local = os.path.expanduser(uri.path)
    where = os.path.abspath(local) if not uri.is_url and os.path.exists(local) else uri.path
    return ("unet", where, uri.revision or "main", uri.variant, uri.subfolder, uri.dtype,
            uri.quantizer)


def load_unet(uri: UNetUri, context: Any, target: LoadTarget, *, cache: str = "unet",
              shared: bool = True) -> Any:
    """The UNet of ``uri`` for a model loading as ``target``, through the ``cache`` object
    cache. ``shared=False`` loads a copy of its own, kept out of the cache (for a pipeline
    that changes its UNet's weights, by fusing LoRAs into them)."""
    located = _locate(uri, context, token=target.token)
    dtype = target.dtype if uri.dtype in (None, "") else resolve_dtype(uri.dtype, target.device)
    variant = None if located.kind == "file" else uri.variant_for(target)
    source = _config_source(target)
    main = None if source is None else _read_config(source, target.token)
    borrowed: Hashable = None
    if located.kind == "file":
        if source is None:
            raise DgenerateError(_no_config(uri, target))
        # a single file takes the model's UNet configuration: part of what it is
        borrowed = (source.location, source.subfolder, source.revision) if main is None else (
            json.dumps({name: value for name, value in main.items()
                        if not name.startswith("_")}, sort_keys=True, default=str))
    key = ("unet", located.kind, located.location, uri.revision or "main", variant,
           uri.subfolder, str(dtype), uri.quantizer, borrowed)

    def create() -> Any:
        context.debug(f"loading the UNet of {uri.what} from {located.location!r} ({dtype}"
                      + (f", variant {variant}" if variant else "") + ")")
        quantization = None if uri.quantizer is None else _quantizer(
            uri, context, device=target.device).diffusers_config()
        with hub_offline(target.offline), _quiet(getattr(context, "verbose", False)):
            if located.kind == "file":
                assert source is not None
                return _load_file(uri, located, dtype, main or {}, source, target)
            return _load_pretrained(uri, located, dtype, variant, main, target, quantization,
                                    context.debug)

    if not shared:
        return create()
    return context.cache(cache).get_or_create(key, create, size=_size(located, uri))


# ------------------------------------------------------------------ locating


def _locate(uri: UNetUri, context: Any, *, token: str | None) -> ResolvedModel:
    try:
        return resolve_model(uri.path, fetch=context.fetch, token=token,
                             offline=context.offline_mode)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: {error}") from None


def _quantizer(uri: UNetUri, context: Any, *, device: str | None) -> Any:
    extra = {} if device is None else {"device": device}
    try:
        return context.create(Category.QUANTIZER, uri.quantizer, **extra)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: quantizer={uri.quantizer!r}: {error}") from None


def _size(located: ResolvedModel, uri: UNetUri) -> int:
    """Bytes of the UNet's weights on disk (an estimate of its memory)."""
    if located.kind == "file":
        return os.path.getsize(located.location)
    if located.kind != "folder":
        return 0
    folder = os.path.join(located.location, uri.subfolder or "")
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files
                     if name.endswith(MODEL_FILE_SUFFIXES))
    return total


# ------------------------------------------------- the model's own UNet configuration


@dataclasses.dataclass(frozen=True)
class _ConfigSource:
    """Where diffusers reads the configuration of the model's own UNet."""

    location: str
    subfolder: str | None
    revision: str | None = None


def _own_subfolder(target: LoadTarget) -> str:
    return "/".join(filter(None, ((target.subfolder or "").strip("/"), "unet")))


def _single_file_repository(path: str) -> str | None:
    from .loading import _config_repository

    return _config_repository(path)


def main_unet_config(target: LoadTarget) -> dict[str, Any] | None:
    """The configuration of the UNet of the model being loaded, when it can be read without
    downloading anything (from its folder, or the local Hugging Face cache); else None."""
    source = _config_source(target)
    return None if source is None else _read_config(source, target.token)


def _read_config(source: _ConfigSource, token: str | None) -> dict[str, Any] | None:
    if os.path.isdir(source.location):
        path = os.path.join(source.location, source.subfolder or "", "config.json")
        try:
            with open(path, encoding="utf-8") as file:
                config = json.load(file)
        except (OSError, ValueError):
            return None
        return config if isinstance(config, dict) else None
    from diffusers import UNet2DConditionModel

    try:
        with hub_offline(True), _quiet(False):
            config = UNet2DConditionModel.load_config(
                source.location, subfolder=source.subfolder, revision=source.revision,
                token=token, local_files_only=True)
    except Exception:
        return None
    return dict(config) if isinstance(config, Mapping) else None


def _config_source(target: LoadTarget) -> _ConfigSource | None:
    model = target.model
    if model is None:
        return None
    if model.kind == "folder":
        return _ConfigSource(model.location, _own_subfolder(target))
    if model.kind == "hub":
        return _ConfigSource(model.location, _own_subfolder(target), target.revision)
    repository = _single_file_repository(model.location)
    return None if repository is None else _ConfigSource(repository, "unet")


def _no_config(uri: UNetUri, target: LoadTarget) -> str:
    model = target.model
    if model is not None and model.kind == "file":
        repository = _single_file_repository(model.location)
        named = (f"the Hugging Face repository {repository!r}" if repository else
                 "the Hugging Face repository of its model type (which cannot be told)")
        reason = ("offline mode forbids downloading it" if target.offline else
                  "it could not be downloaded")
        return (f"{uri.what}: a single-file UNet takes the configuration of the model's own "
                f"UNet; the model {model.location!r} is a single file too, and the "
                f"configuration of {named} is not in the local Hugging Face cache and "
                f"{reason}: give the UNet as a diffusers folder, or cache that configuration "
                "once while online")
    return (f"{uri.what}: a single-file UNet takes the configuration of the model's own "
            "UNet, which cannot be read here; give the UNet as a diffusers folder (its "
            "config.json beside its weights)")


def _model_name(target: LoadTarget) -> str:
    model = target.model
    named = f" {model.location!r}" if model is not None else ""
    return f"the {target.model_type} model{named}"


def _check_fits(uri: UNetUri, config: Mapping[str, Any], main: Mapping[str, Any] | None,
                target: LoadTarget) -> None:
    """A UNet whose interface differs from the model's own UNet cannot take its place."""
    if main is None:
        return
    for name, meaning in _INTERFACE.items():
        if name in config and name in main and _normal(config[name]) != _normal(main[name]):
            raise DgenerateError(
                f"{uri.what}: this UNet does not fit {_model_name(target)}: its {name} is "
                f"{config[name]!r} and the model's own UNet's is {main[name]!r} ({meaning})")


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# ------------------------------------------------------- folders and repositories


def _class(uri: UNetUri, main: Mapping[str, Any] | None) -> Any:
    import diffusers

    name = (main or {}).get("_class_name") or _DEFAULT_CLASS
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        cls = diffusers.UNet2DConditionModel
    return cls


def _hub_failure(uri: UNetUri, located: ResolvedModel, error: Exception, offline: bool,
                 what_file: str) -> str:
    hint = (f" in its subfolder {uri.subfolder!r}" if uri.subfolder else
            " (when the UNet is the one of a pipeline, add subfolder=unet)")
    return describe_component_failure(uri.what, located, error, revision=uri.revision,
                                      offline=offline, what_file=what_file, missing_hint=hint,
                                      component="UNet")

def _check_folder(uri: UNetUri, located: ResolvedModel) -> None:
    folder = os.path.join(located.location, uri.subfolder) if uri.subfolder else (
        located.location)
    if uri.subfolder and not os.path.isdir(folder):
        raise DgenerateError(f"{uri.what}: the folder {located.location!r} has no subfolder "
                             f"{uri.subfolder!r}")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        hint = ("; it holds a whole pipeline: add subfolder=unet" if os.path.isfile(
            os.path.join(folder, "unet", "config.json")) else "")
        raise DgenerateError(f"{uri.what}: {folder!r} is not a diffusers UNet folder (it has "
                             f"no config.json){hint}")


def _variant_missing(error: BaseException, variant: str | None) -> bool:
    return variant is not None and any(
        variant in str(cause) or "variant" in str(cause).lower() for cause in error_chain(error))


def _load_pretrained(uri: UNetUri, located: ResolvedModel, dtype: Any, variant: str | None,
                     main: Mapping[str, Any] | None, target: LoadTarget, quantization: Any,
                     debug: Callable[[str], None]) -> Any:
    cls = _class(uri, main)
    options: dict[str, Any] = {"local_files_only": target.offline}
    if uri.subfolder:
        options["subfolder"] = uri.subfolder
    if located.kind == "hub":
        options["revision"] = uri.revision or "main"
        if target.token:
            options["token"] = target.token
    else:
        _check_folder(uri, located)
    try:
        config = cls.load_config(located.location, **options)
    except Exception as error:
        raise DgenerateError(_hub_failure(uri, located, error, target.offline, "config.json")
                             ) from error
    saved = config.get("_class_name") if isinstance(config, Mapping) else None
    if saved and saved != cls.__name__:
        raise DgenerateError(f"{uri.what}: {where_text(located, uri.revision)} holds a model of "
                             f"the class {saved}, not {cls.__name__} (the UNet class of "
                             f"{target.model_type} models)")
    _check_fits(uri, config, main, target)
    if quantization is not None:
        options["quantization_config"] = quantization
    try:
        try:
            unet = cls.from_pretrained(located.location, torch_dtype=dtype, variant=variant,
                                       **options)
        except Exception as error:
            # --variant given to the model, not to the UNet: plain weights will do
            if not (_variant_missing(error, variant) and uri.variant is None):
                raise
            debug(f"{uri.what}: {where_text(located, uri.revision)} has no {variant!r} variant; "
                  "loading its plain weights")
            unet = cls.from_pretrained(located.location, torch_dtype=dtype, **options)
    except DgenerateError:
        raise
    except Exception as error:
        if _variant_missing(error, variant):
            raise DgenerateError(
                f"{uri.what}: {where_text(located, uri.revision)} has no weights of the variant "
                f"{variant!r} (diffusion_pytorch_model.{variant}.safetensors); give "
                "variant=null for its plain weights") from error
        if located.kind == "hub":
            raise DgenerateError(_hub_failure(uri, located, error, target.offline,
                                              "the weights")) from error
        only = [] if variant else _variants_only(
            os.path.join(located.location, uri.subfolder or ""))
        if only:
            raise DgenerateError(
                f"{uri.what}: {where_text(located, None)} has only the weights of the variant "
                f"{' and '.join(map(repr, only))}: give variant={only[0]} (or --variant "
                f"{only[0]})") from error
        raise DgenerateError(f"{uri.what}: cannot load the UNet from "
                             f"{where_text(located, None)}: {first_paragraph(error)}") from error
    return unet.eval()


# ------------------------------------------------------------------ single files


def _unet_part(checkpoint: Mapping[str, Any], prefix: str | None, what: str,
               where: str) -> dict[str, Any]:
    """The UNet's weights in a file: under ``prefix.`` when given, else under ``unet.`` or
    the original layout's prefix, else the whole file. Original-layout weights keep (or
    get) the ``model.diffusion_model.`` prefix diffusers' conversion looks for."""
    keys = list(checkpoint)
    if prefix:
        start = prefix.strip(".") + "."
        if start == _LDM_PREFIX:
            part = {key: value for key, value in checkpoint.items() if key.startswith(start)}
        else:
            part = {key[len(start):]: value for key, value in checkpoint.items()
                    if key.startswith(start)}
        if not part:
            tops = sorted({key.split(".", 1)[0] for key in keys})
            listed = ", ".join(map(repr, tops[:8])) + (" ..." if len(tops) > 8 else "")
            raise DgenerateError(f"{what}: {where} has no weights under the key prefix "
                                 f"{start!r} (subfolder=); its keys start with {listed}")
    elif any(key.startswith("unet.") for key in keys):
        part = {key[5:]: value for key, value in checkpoint.items() if key.startswith("unet.")}
    elif any(key.startswith(_LDM_PREFIX) for key in keys):
        part = {key: value for key, value in checkpoint.items() if key.startswith(_LDM_PREFIX)}
    else:
        part = dict(checkpoint)
    if any(key.startswith(("input_blocks.", "middle_block.", "output_blocks.")) for key in part):
        part = {_LDM_PREFIX + key: value for key, value in part.items()}
    return part


def _load_file(uri: UNetUri, located: ResolvedModel, dtype: Any, main: Mapping[str, Any],
               source: _ConfigSource, target: LoadTarget) -> Any:
    import torch
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        load_single_file_checkpoint,
    )

    where = f"the checkpoint {located.location!r}"
    what = uri.what
    try:
        checkpoint = load_single_file_checkpoint(located.location, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{what}: {where} cannot be read ({type(error).__name__}: "
                             f"{first_paragraph(error)})") from error
    state = _unet_part(checkpoint, uri.subfolder, what, where)
    cls = _class(uri, main)
    try:
        config = main or cls.load_config(source.location, subfolder=source.subfolder,
                                          revision=source.revision, token=target.token,
                                          local_files_only=target.offline)
    except Exception as error:
        raise DgenerateError(_no_config(uri, target)) from error
    config = {key: value for key, value in config.items() if not key.startswith("_")}
    if any(key.startswith(_LDM_PREFIX) for key in state):
        try:
            state = convert_ldm_unet_checkpoint(state, config)
        except Exception as error:
            raise DgenerateError(
                f"{what}: the original-layout weights of {where} do not make the UNet of "
                f"{_model_name(target)} ({type(error).__name__}: {first_paragraph(error)})"
            ) from error
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in
                    cls.from_config(config).state_dict().items()}
    _check_weights(state, expected, what, where, target)
    try:
        return cls.from_single_file(
            state, config=source.location, subfolder=source.subfolder,
            config_revision=source.revision, torch_dtype=dtype, token=target.token,
            local_files_only=target.offline).eval()
    except Exception as error:
        raise DgenerateError(f"{what}: cannot load the UNet from {where}: "
                             f"{type(error).__name__}: {first_paragraph(error)}") from error


def _check_weights(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]],
                   what: str, where: str, target: LoadTarget) -> None:
    """The weights must be exactly those of the model's own UNet: same names, same shapes."""
    model = _model_name(target)
    if not state:
        raise DgenerateError(f"{what}: {where} holds no UNet weights")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            raise DgenerateError(
                f"{what}: the UNet of {where} does not fit {model}: its weight {key!r} has "
                f"the shape {list(state[key].shape)}, and {list(shape)} in the model's own "
                f"UNet (a UNet of another architecture or model family?)")
    missing = [key for key in expected if key not in state]
    unknown = [key for key in state if key not in expected]
    if missing and len(missing) == len(expected):
        raise DgenerateError(
            f"{what}: {where} holds no weights of the UNet of {model} (its keys start with "
            f"{', '.join(map(repr, sorted({key.split('.', 1)[0] for key in state})[:6]))}); "
            "for a whole-model file name the key prefix of its UNet with subfolder=")
    if missing:
        raise DgenerateError(f"{what}: {where} lacks {len(missing)} weights of the UNet of "
                             f"{model}, such as {missing[0]!r}")
    if unknown:
        raise DgenerateError(f"{what}: {where} has {len(unknown)} weights the UNet of {model} "
                             f"has no place for, such as {unknown[0]!r} (a UNet of another "
                             "architecture?)")


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Keep the libraries' messages (a variant lookup that fails is logged as an error,
    notes on dtypes) off the console while a UNet loads; -v shows them."""
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
