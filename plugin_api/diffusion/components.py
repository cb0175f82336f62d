"""Loading one pipeline component by itself, given by a URI: a UNet, a diffusion
transformer, or any other model a :class:`ComponentKind` describes.

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

The same machinery serves other components: a :class:`ComponentKind` says what differs
(the word messages use, the pipeline folder, the settings that must match the model's
own, the key prefixes of whole-model checkpoints, how original-layout weights convert),
and :func:`parse_component_uri`, :func:`check_component_uri`, :func:`component_key`
and :func:`load_component` do the rest. ``UNET`` is the UNet's kind.
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
    single_file_config_repository,
    where_text,
)
from .sources import MODEL_FILE_SUFFIXES, ResolvedModel, resolve_model

__all__ = ["UNET", "UNET_ARGUMENTS", "ComponentKind", "ComponentUri", "UNetUri",
           "check_component_uri", "check_unet_uri", "component_arguments", "component_key",
           "load_component", "load_unet", "main_component_config", "main_folder_config",
           "main_unet_config",
           "parse_component_uri", "parse_unet_uri", "quiet_libraries", "unet_key"]


def component_arguments(word: str, *, revision: str = "(default main)",
                        subfolder: str = "") -> tuple[ArgSpec, ...]:
    """The arguments of a component URI; ``word`` names the component in their help."""
    return (
        ArgSpec(name="revision", type=str | None, default=None,
                help=f"the branch, tag or commit of a Hugging Face repository {revision}"),
        ArgSpec(name="variant", type=str | None, default=None,
                help="the weights variant (diffusion_pytorch_model.<variant>.safetensors); "
                     "default --variant, null for none"),
        ArgSpec(name="subfolder", type=str | None, default=None,
                help=subfolder or f"the {word}'s folder in the repository or folder"),
        ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
                default=None, help=f"the {word}'s precision (default: the model's --dtype)"),
        ArgSpec(name="quantizer", type=str | None, default=None,
                help=f"a --quantizer URI quantizing this {word} while it loads"),
    )


UNET_ARGUMENTS = component_arguments(
    "UNet", subfolder="the UNet's folder in the repository or folder; in a single file that "
                      "holds a whole model, the key prefix of its UNet (default unet)")

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

#: ``convert(cls, state, config, expected, what, where, target)``: the weights of a single
#: file in the diffusers layout of ``cls`` (``expected``: its weights' names and shapes)
Converter = Callable[[Any, dict[str, Any], Mapping[str, Any], Mapping[str, tuple[int, ...]],
                      str, str, LoadTarget], dict[str, Any]]


def _as_is(cls: Any, state: dict[str, Any], config: Mapping[str, Any],
           expected: Mapping[str, tuple[int, ...]], what: str, where: str,
           target: LoadTarget) -> dict[str, Any]:
    return state


@dataclasses.dataclass(frozen=True)
class ComponentKind:
    """What differs between the kinds of component :func:`load_component` loads.

    ``word`` names the component in messages (``UNet``), ``folder`` is its folder in a
    diffusers pipeline (and its default object cache and key), ``option`` the flag of
    its URI, ``interface`` the settings of its configuration that must be the model's
    own (name -> what it means), ``default_class`` the diffusers class when the model's
    configuration names none, ``prefixes`` the key prefixes of the component in a
    whole-model checkpoint (tried in order), ``convert`` the conversion of a single
    file's weights to the diffusers layout. ``none_fits``: a setting left null on one
    side is not compared. ``file_subfolder``: a single file takes subfolder= (the key
    prefix of the component); ``file_quantizer``: it takes quantizer=; ``link_revision``:
    a Hugging Face blob link takes revision=."""

    word: str
    folder: str
    option: str
    arguments: tuple[ArgSpec, ...]
    interface: Mapping[str, str]
    default_class: str | None = None
    prefixes: tuple[str, ...] = ()
    convert: Converter = _as_is
    none_fits: bool = False
    file_subfolder: bool = False
    file_quantizer: bool = False
    link_revision: bool = False


@dataclasses.dataclass(frozen=True)
class ComponentUri:
    """A parsed component URI: ``text`` as written, ``option`` the flag it came with."""

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
    def is_hub_link(self) -> bool:
        return self.is_url and any(host in self.path.lower() for host in
                                   ("://huggingface.co/", "://hf.co/", "://www.huggingface.co/"))

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


@dataclasses.dataclass(frozen=True)
class UNetUri(ComponentUri):
    """A parsed UNet URI: ``text`` as written, ``option`` the flag it came with."""


def parse_component_uri(text: str, context: Any, kind: ComponentKind, *,
                        option: str | None = None, uri_class: type = ComponentUri) -> Any:
    """Split and bind the arguments of a component URI (nothing is loaded or looked at)."""
    option = option or kind.option
    try:
        path, arguments = context.parse_uri(text, kind.arguments, owner=option)
    except DgenerateError as error:
        message = str(error)
        if option in message:
            raise DgenerateError(f"{message} (in {option} {text!r})") from None
        raise DgenerateError(f"{option} {text!r}: {message}") from None
    uri = uri_class(text=text, option=option, path=path.strip(), **arguments)
    if not uri.path:
        raise DgenerateError(f"{uri.what} names no {kind.word}: it starts with the "
                             f"{kind.word}'s path (a Hugging Face repository id, a folder, a "
                             "file or a URL)")
    return uri


def check_component_uri(uri: ComponentUri, context: Any, kind: ComponentKind) -> None:
    """Refuse what cannot load, before anything loads: arguments a single file does not
    take, a file or folder that does not exist, an unknown quantizer."""
    if uri.is_single_file:
        names = ("revision", "variant") + (() if kind.file_subfolder else ("subfolder",))
        refused = [name for name in names if getattr(uri, name) is not None
                   and not (name == "variant" and uri.no_variant)
                   and not (name == "revision" and kind.link_revision and uri.is_hub_link)]
        if refused:
            takes = ([f"subfolder (the key prefix of the {kind.word} in a whole-model file)"]
                     if kind.file_subfolder else []) + ["dtype"] + (
                ["quantizer"] if kind.file_quantizer else [])
            link = (" (and revision for a Hugging Face blob link)" if kind.link_revision
                    else "")
            raise DgenerateError(
                f"{uri.what}: {uri.path!r} is a single file, which takes only the arguments "
                f"{' and '.join(takes)}{link}; not {', '.join(refused)}")
        if uri.quantizer is not None and not kind.file_quantizer:
            # diffusers' single-file loader leaves some backends' weights unloaded
            raise DgenerateError(
                f"{uri.what}: a single-file {kind.word} cannot be quantized while it loads; "
                f"for quantizer= give the {kind.word} as a diffusers folder or a Hugging Face "
                "repository")
    if uri.quantizer is not None:
        _quantizer(uri, context, device=None)
    if not uri.is_url:
        _locate(uri, context, token=None, kind=kind)  # a missing file or folder fails now


def component_key(uri: ComponentUri, kind: ComponentKind) -> Hashable:
    """What a pipeline loaded with this component depends on from its URI (its cache key)."""
    local = os.path.expanduser(uri.path)
    where = os.path.abspath(local) if not uri.is_url and os.path.exists(local) else uri.path
    return (kind.folder, where, uri.revision or "main", uri.variant, uri.subfolder, uri.dtype,
            uri.quantizer)


def load_component(uri: ComponentUri, context: Any, target: LoadTarget, kind: ComponentKind,
                   *, cls: Any = None, cache: str | None = None, shared: bool = True) -> Any:
    """The component of ``uri`` for a model loading as ``target``, through the ``cache``
    object cache (default: the kind's folder). ``cls``: its class (default: the one the
    model's own configuration names). ``shared=False`` loads a copy of its own, kept out
    of the cache (for a pipeline that changes its weights, by fusing LoRAs into them)."""
    located = _locate(uri, context, token=target.token, kind=kind)
    dtype = target.dtype if uri.dtype in (None, "") else resolve_dtype(uri.dtype, target.device)
    variant = None if located.kind == "file" else uri.variant_for(target)
    source = _config_source(target, kind.folder)
    main = None if source is None else _read_config(source, target.token, cls or _class(
        kind, None))
    cls = cls or _class(kind, main)
    borrowed: Hashable = None
    if located.kind == "file":
        if source is None:
            raise DgenerateError(_no_config(uri, target, kind))
        # a single file takes the model's configuration: part of what it is
        borrowed = (source.location, source.subfolder, source.revision) if main is None else (
            json.dumps({name: value for name, value in main.items()
                        if not name.startswith("_")}, sort_keys=True, default=str))
    key = (kind.folder, cls.__name__, located.kind, located.location, uri.revision or "main",
           variant, uri.subfolder, str(dtype), uri.quantizer, borrowed)

    def create() -> Any:
        context.debug(f"loading the {cls.__name__} of {uri.what} from {located.location!r} "
                      f"({dtype}" + (f", variant {variant}" if variant else "") + ")")
        quantization = None if uri.quantizer is None else _quantizer(
            uri, context, device=target.device).diffusers_config()
        with hub_offline(target.offline), quiet_libraries(getattr(context, "verbose", False)):
            if located.kind == "file":
                assert source is not None
                return _load_file(cls, uri, located, dtype, main, source, target,
                                  quantization, kind)
            return _load_pretrained(cls, uri, located, dtype, variant, main, target,
                                    quantization, context.debug, kind)

    if not shared:
        return create()
    return context.cache(cache or kind.folder).get_or_create(key, create,
                                                             size=_size(located, uri))


# ------------------------------------------------------------------ the UNet


def _convert_unet(cls: Any, state: dict[str, Any], config: Mapping[str, Any],
                  expected: Mapping[str, tuple[int, ...]], what: str, where: str,
                  target: LoadTarget) -> dict[str, Any]:
    """Original (LDM) layout weights in the diffusers layout."""
    if any(key.startswith(("input_blocks.", "middle_block.", "output_blocks.")) for key in state):
        from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

        try:
            return convert_ldm_unet_checkpoint(
                {_LDM_PREFIX + key: value for key, value in state.items()}, dict(config))
        except Exception as error:
            raise DgenerateError(
                f"{what}: the original-layout weights of {where} do not make the UNet of "
                f"{_model_name(target)} ({type(error).__name__}: {first_paragraph(error)})"
            ) from error
    return state


#: the UNet's kind of component (``--unet``)
UNET = ComponentKind(word="UNet", folder="unet", option="--unet", arguments=UNET_ARGUMENTS,
                     interface=_INTERFACE, default_class=_DEFAULT_CLASS,
                     prefixes=("unet.", _LDM_PREFIX), convert=_convert_unet,
                     file_subfolder=True)


def parse_unet_uri(text: str, context: Any, *, option: str = "--unet") -> UNetUri:
    """Split and bind the arguments of a UNet URI (nothing is loaded or looked at)."""
    return parse_component_uri(text, context, UNET, option=option, uri_class=UNetUri)


def check_unet_uri(uri: UNetUri, context: Any) -> None:
    """Refuse what cannot load, before anything loads: arguments a single file does not
    take, a file or folder that does not exist, an unknown quantizer."""
    check_component_uri(uri, context, UNET)


def unet_key(uri: UNetUri) -> Hashable:
    """What a pipeline loaded with this UNet depends on from its URI (for its cache key)."""
    return component_key(uri, UNET)


def load_unet(uri: UNetUri, context: Any, target: LoadTarget, *, cache: str = "unet",
              shared: bool = True) -> Any:
    """The UNet of ``uri`` for a model loading as ``target``, through the ``cache`` object
    cache. ``shared=False`` loads a copy of its own, kept out of the cache (for a pipeline
    that changes its UNet's weights, by fusing LoRAs into them)."""
    return load_component(uri, context, target, UNET, cache=cache, shared=shared)


def main_unet_config(target: LoadTarget) -> dict[str, Any] | None:
    """The configuration of the UNet of the model being loaded, when it can be read without
    downloading anything (from its folder, or the local Hugging Face cache); else None."""
    return main_component_config(target, UNET)


# ------------------------------------------------------------------ locating


def _locate(uri: ComponentUri, context: Any, *, token: str | None,
            kind: ComponentKind) -> ResolvedModel:
    path = uri.path
    if kind.link_revision and uri.revision is not None and uri.is_hub_link:
        path = _with_revision(path, uri.revision)
    try:
        return resolve_model(path, fetch=context.fetch, token=token,
                             offline=context.offline_mode)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: {error}") from None


def _with_revision(link: str, revision: str) -> str:
    """A Hugging Face file link pointing at ``revision`` instead of its own."""
    import re
    from urllib.parse import quote

    match = re.match(r"^(https?://[^/]+/[^/]+/[^/]+/(?:blob|resolve)/)([^/]+)(/.+)$", link)
    if match is None:
        return link
    return match.group(1) + quote(revision, safe="") + match.group(3)


def _quantizer(uri: ComponentUri, context: Any, *, device: str | None) -> Any:
    extra = {} if device is None else {"device": device}
    try:
        return context.create(Category.QUANTIZER, uri.quantizer, **extra)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: quantizer={uri.quantizer!r}: {error}") from None


def _size(located: ResolvedModel, uri: ComponentUri) -> int:
    """Bytes of the component's weights on disk (an estimate of its memory)."""
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


# ------------------------------------------------- the model's own configuration


@dataclasses.dataclass(frozen=True)
class _ConfigSource:
    """Where diffusers reads the configuration of the model's own component."""

    location: str
    subfolder: str | None
    revision: str | None = None


def main_component_config(target: LoadTarget, kind: ComponentKind,
                          cls: Any = None) -> dict[str, Any] | None:
    """The configuration of the model's own component of ``kind``, when it can be read
    without downloading anything (from its folder, or the local Hugging Face cache)."""
    return main_folder_config(target, kind.folder, cls or _class(kind, None))


def main_folder_config(target: LoadTarget, folder: str,
                       cls: Any = None) -> dict[str, Any] | None:
    """The configuration in the ``folder`` of the model being loaded (``transformer`` ...),
    when it can be read without downloading anything (from its folder, the local Hugging
    Face cache, or for a single file the cached repository of its configuration)."""
    source = _config_source(target, folder)
    return None if source is None else _read_config(source, target.token, cls)


def _read_config(source: _ConfigSource, token: str | None,
                 cls: Any = None) -> dict[str, Any] | None:
    if os.path.isdir(source.location):
        path = os.path.join(source.location, source.subfolder or "", "config.json")
        try:
            with open(path, encoding="utf-8") as file:
                config = json.load(file)
        except (OSError, ValueError):
            return None
        return config if isinstance(config, dict) else None
    if cls is None:
        from diffusers import ModelMixin as cls
    try:
        with hub_offline(True), quiet_libraries(False):
            config = cls.load_config(
                source.location, subfolder=source.subfolder, revision=source.revision,
                token=token, local_files_only=True)
    except Exception:
        return None
    return dict(config) if isinstance(config, Mapping) else None


def _config_source(target: LoadTarget, folder: str) -> _ConfigSource | None:
    model = target.model
    if model is None:
        return None
    own = "/".join(filter(None, ((target.subfolder or "").strip("/"), folder)))
    if model.kind == "folder":
        return _ConfigSource(model.location, own)
    if model.kind == "hub":
        return _ConfigSource(model.location, own, target.revision)
    repository = _single_file_repository(model.location, target)
    return None if repository is None else _ConfigSource(repository, folder)


def _single_file_repository(path: str, target: LoadTarget | None = None) -> str | None:
    return single_file_config_repository(path, getattr(target, "pipeline_class", None))


def _no_config(uri: ComponentUri, target: LoadTarget, kind: ComponentKind) -> str:
    word = kind.word
    model = target.model
    if model is not None and model.kind == "file":
        repository = _single_file_repository(model.location, target)
        named = (f"the Hugging Face repository {repository!r}" if repository else
                 "the Hugging Face repository of its model type (which cannot be told)")
        reason = ("offline mode forbids downloading it" if target.offline else
                  "it could not be downloaded")
        return (f"{uri.what}: a single-file {word} takes the configuration of the model's own "
                f"{word}; the model {model.location!r} is a single file too, and the "
                f"configuration of {named} is not in the local Hugging Face cache and "
                f"{reason}: give the {word} as a diffusers folder, or cache that configuration "
                "once while online")
    return (f"{uri.what}: a single-file {word} takes the configuration of the model's own "
            f"{word}, which cannot be read here; give the {word} as a diffusers folder (its "
            "config.json beside its weights)")


def _model_name(target: LoadTarget) -> str:
    model = target.model
    named = f" {model.location!r}" if model is not None else ""
    return f"the {target.model_type} model{named}"


def _check_fits(uri: ComponentUri, config: Mapping[str, Any], main: Mapping[str, Any] | None,
                target: LoadTarget, kind: ComponentKind) -> None:
    """A component whose interface differs from the model's own cannot take its place."""
    if main is None:
        return
    word = kind.word
    for name, meaning in kind.interface.items():
        if name not in config or name not in main:
            continue
        ours, theirs = config[name], main[name]
        if kind.none_fits and (ours is None or theirs is None):
            continue
        if _normal(ours) != _normal(theirs):
            raise DgenerateError(
                f"{uri.what}: this {word} does not fit {_model_name(target)}: its {name} is "
                f"{ours!r} and the model's own {word}'s is {theirs!r} ({meaning})")


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# ------------------------------------------------------- folders and repositories


def _class(kind: ComponentKind, main: Mapping[str, Any] | None) -> Any:
    import diffusers

    name = (main or {}).get("_class_name") or kind.default_class
    cls = getattr(diffusers, name, None) if name else None
    if cls is None or not hasattr(cls, "from_pretrained"):
        cls = getattr(diffusers, kind.default_class or "ModelMixin")
    return cls


def _check_class(uri: ComponentUri, cls: Any, saved: Any, where: str, target: LoadTarget,
                 kind: ComponentKind) -> None:
    if saved and saved != cls.__name__:
        raise DgenerateError(f"{uri.what}: {where} holds a model of the class {saved}, not "
                             f"{cls.__name__} (the {kind.word} class of {target.model_type} "
                             "models)")


def _hub_failure(uri: ComponentUri, located: ResolvedModel, error: Exception, offline: bool,
                 what_file: str, kind: ComponentKind) -> str:
    hint = (f" in its subfolder {uri.subfolder!r}" if uri.subfolder else
            f" (when the {kind.word} is the one of a pipeline, add subfolder={kind.folder})")
    return describe_component_failure(uri.what, located, error, revision=uri.revision,
                                      offline=offline, what_file=what_file, missing_hint=hint,
                                      component=kind.word)


def _check_folder(uri: ComponentUri, located: ResolvedModel, kind: ComponentKind) -> None:
    folder = os.path.join(located.location, uri.subfolder) if uri.subfolder else (
        located.location)
    if uri.subfolder and not os.path.isdir(folder):
        raise DgenerateError(f"{uri.what}: the folder {located.location!r} has no subfolder "
                             f"{uri.subfolder!r}")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        hint = (f"; it holds a whole pipeline: add subfolder={kind.folder}" if os.path.isfile(
            os.path.join(folder, kind.folder, "config.json")) else "")
        raise DgenerateError(f"{uri.what}: {folder!r} is not a diffusers {kind.word} folder "
                             f"(it has no config.json){hint}")


def _variant_missing(error: BaseException, variant: str | None) -> bool:
    return variant is not None and any(
        variant in str(cause) or "variant" in str(cause).lower() for cause in error_chain(error))


def _load_pretrained(cls: Any, uri: ComponentUri, located: ResolvedModel, dtype: Any,
                     variant: str | None, main: Mapping[str, Any] | None, target: LoadTarget,
                     quantization: Any, debug: Callable[[str], None],
                     kind: ComponentKind) -> Any:
    options: dict[str, Any] = {"local_files_only": target.offline}
    if uri.subfolder:
        options["subfolder"] = uri.subfolder
    if located.kind == "hub":
        options["revision"] = uri.revision or "main"
        if target.token:
            options["token"] = target.token
    else:
        _check_folder(uri, located, kind)
    try:
        config = cls.load_config(located.location, **options)
    except Exception as error:
        raise DgenerateError(_hub_failure(uri, located, error, target.offline, "config.json",
                                          kind)) from error
    saved = config.get("_class_name") if isinstance(config, Mapping) else None
    _check_class(uri, cls, saved, where_text(located, uri.revision), target, kind)
    _check_fits(uri, config, main, target, kind)
    if quantization is not None:
        options["quantization_config"] = quantization
    try:
        try:
            model = cls.from_pretrained(located.location, torch_dtype=dtype, variant=variant,
                                        **options)
        except Exception as error:
            # --variant given to the model, not to the component: plain weights will do
            if not (_variant_missing(error, variant) and uri.variant is None):
                raise
            debug(f"{uri.what}: {where_text(located, uri.revision)} has no {variant!r} variant; "
                  "loading its plain weights")
            model = cls.from_pretrained(located.location, torch_dtype=dtype, **options)
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
                                              "the weights", kind)) from error
        only = [] if variant else _variants_only(
            os.path.join(located.location, uri.subfolder or ""))
        if only:
            raise DgenerateError(
                f"{uri.what}: {where_text(located, None)} has only the weights of the variant "
                f"{' and '.join(map(repr, only))}: give variant={only[0]} (or --variant "
                f"{only[0]})") from error
        raise DgenerateError(f"{uri.what}: cannot load the {kind.word} from "
                             f"{where_text(located, None)}: {first_paragraph(error)}") from error
    return model.eval()


# ------------------------------------------------------------------ single files


def _whole_model_part(checkpoint: Mapping[str, Any], prefixes: tuple[str, ...],
                      prefix: str | None, what: str, where: str) -> dict[str, Any]:
    """The component's weights in a file, their key prefix taken off: those under
    ``prefix.`` when given, else under the first of ``prefixes`` the file has, else the
    whole file."""
    if prefix:
        start = prefix.strip(".") + "."
        part = {key[len(start):]: value for key, value in checkpoint.items()
                if key.startswith(start)}
        if not part:
            tops = sorted({key.split(".", 1)[0] for key in checkpoint})
            listed = ", ".join(map(repr, tops[:8])) + (" ..." if len(tops) > 8 else "")
            raise DgenerateError(f"{what}: {where} has no weights under the key prefix "
                                 f"{start!r} (subfolder=); its keys start with {listed}")
        return part
    for start in prefixes:
        part = {key[len(start):]: value for key, value in checkpoint.items()
                if key.startswith(start)}
        if part:
            return part
    return dict(checkpoint)


def _load_file(cls: Any, uri: ComponentUri, located: ResolvedModel, dtype: Any,
               main: Mapping[str, Any] | None, source: _ConfigSource, target: LoadTarget,
               quantization: Any, kind: ComponentKind) -> Any:
    import torch
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    where = f"the checkpoint {located.location!r}"
    what = uri.what
    try:
        checkpoint = load_single_file_checkpoint(located.location, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{what}: {where} cannot be read ({type(error).__name__}: "
                             f"{first_paragraph(error)})") from error
    state = _whole_model_part(checkpoint, kind.prefixes,
                              uri.subfolder if kind.file_subfolder else None, what, where)
    try:
        config = main or cls.load_config(source.location, subfolder=source.subfolder,
                                          revision=source.revision, token=target.token,
                                          local_files_only=target.offline)
    except Exception as error:
        raise DgenerateError(_no_config(uri, target, kind)) from error
    _check_class(uri, cls, config.get("_class_name"),
                 f"the configuration of {_model_name(target)}", target, kind)
    config = {key: value for key, value in config.items() if not key.startswith("_")}
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in
                    cls.from_config(config).state_dict().items()}
    state = kind.convert(cls, state, config, expected, what, where, target)
    _check_weights(state, expected, what, where, target, kind)

    def from_file() -> Any:
        return cls.from_single_file(
            state, config=source.location, subfolder=source.subfolder,
            config_revision=source.revision, torch_dtype=dtype, token=target.token,
            local_files_only=target.offline).eval()

    try:
        if quantization is None:
            return from_file()
        # diffusers' single-file loader leaves quantized weights unloaded (meta): the
        # component is saved once in the diffusers layout, and quantized from there
        folder = _converted(located.location, cls, config, dtype, from_file)
        return cls.from_pretrained(str(folder), torch_dtype=dtype,
                                   quantization_config=quantization).eval()
    except DgenerateError:
        raise
    except Exception as error:
        raise DgenerateError(f"{what}: cannot load the {kind.word} from {where}: "
                             f"{type(error).__name__}: {first_paragraph(error)}") from error


def _converted(path: str, cls: Any, config: Mapping[str, Any], dtype: Any,
               load: Callable[[], Any]) -> Any:
    """The diffusers folder of the single file ``path`` in dgenerate's checkpoint
    conversion cache (``$DGENERATE_CACHE/diffusers_converted``), written on first use;
    named by the file (path, size, time) and the configuration and dtype it loads with."""
    import hashlib
    import shutil
    import tempfile

    from ..webcache import cache_root

    stat = os.stat(path)
    identity = json.dumps([os.path.abspath(path), stat.st_size, stat.st_mtime_ns, cls.__name__,
                           str(dtype), dict(config)], sort_keys=True, default=str)
    name = f"{cls.__name__}-{hashlib.sha256(identity.encode()).hexdigest()[:24]}"
    folder = cache_root() / "diffusers_converted" / name
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=name + ".", dir=folder.parent)
    try:
        load().save_pretrained(scratch)
        os.replace(scratch, folder)
    except OSError:
        if not (folder / "config.json").is_file():  # (not written by another process)
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _check_weights(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]],
                   what: str, where: str, target: LoadTarget,
                   kind: ComponentKind) -> None:
    """The weights must be exactly those of the model's own component: same names, same
    shapes."""
    word = kind.word
    model = _model_name(target)
    if not state:
        raise DgenerateError(f"{what}: {where} holds no {word} weights")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            raise DgenerateError(
                f"{what}: the {word} of {where} does not fit {model}: its weight {key!r} has "
                f"the shape {list(state[key].shape)}, and {list(shape)} in the model's own "
                f"{word} (a {word} of another architecture or model family?)")
    missing = [key for key in expected if key not in state]
    unknown = [key for key in state if key not in expected]
    if missing and len(missing) == len(expected):
        hint = (f"; for a whole-model file name the key prefix of its {word} with subfolder="
                if kind.file_subfolder else "")
        raise DgenerateError(
            f"{what}: {where} holds no weights of the {word} of {model} (its keys start with "
            f"{', '.join(map(repr, sorted({key.split('.', 1)[0] for key in state})[:6]))})"
            f"{hint}")
    if missing:
        raise DgenerateError(f"{what}: {where} lacks {len(missing)} weights of the {word} of "
                             f"{model}, such as {missing[0]!r}")
    if unknown:
        raise DgenerateError(f"{what}: {where} has {len(unknown)} weights the {word} of {model} "
                             f"has no place for, such as {unknown[0]!r} (a {word} of another "
                             "architecture?)")


@contextlib.contextmanager
def quiet_libraries(verbose: bool) -> Iterator[None]:
    """Keep the libraries' messages (a variant lookup that fails is logged as an error,
    notes on dtypes) off the console while a component loads; -v shows them."""
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


_quiet = quiet_libraries
