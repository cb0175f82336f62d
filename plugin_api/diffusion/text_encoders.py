"""Text encoders given by slot: ``--text-encoders URI ...`` and the SDXL refiner's
``--second-model-text-encoders`` share this code.

The Nth URI fills the Nth text encoder slot of the pipeline (``text_encoder``,
``text_encoder_2`` ... in the order of the pipeline class' constructor): ``+`` keeps the
model's own encoder, ``null`` leaves the slot empty where the pipeline allows it, and the
slots after the last URI keep the model's own. A text encoder shared by ``\\use_modules``
in a config script counts as the model's own: ``+`` (or no entry) keeps it, a URI or
``null`` replaces it (the model type loads with the shared modules as defaults and lets
these components override them). Every URI is parsed when the request is
checked; the slots' classes are compared with the pipeline's before anything loads.
Loaded encoders are kept in the ``text_encoder`` object cache under their creation
parameters, so one encoder given to several models loads once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import json
import os
import re
import warnings
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, Literal

from ..args import ArgSpec
from ..errors import DgenerateError
from ..interfaces.sub_model import LoadTarget
from .devices import resolve_dtype
from .sources import MODEL_FILE_SUFFIXES, resolve_model
from .text_encoder_modes import MODES, check_mode, load_mode_file, own_config

__all__ = ["CLASSES", "TextEncoderUri", "describe_text_encoders", "parse_text_encoder_uri",
           "parse_text_encoders", "pipeline_slots", "text_encoder_components",
           "text_encoders_key"]

OPTION = "--text-encoders"
#: the classes a URI may name (transformers' classes)
CLASSES = ("CLIPTextModel", "CLIPTextModelWithProjection", "T5EncoderModel")
#: classes of the manual that this build does not load yet
_NOT_YET = {"DistillT5EncoderModel": "DistillT5 encoders", "ChatGLMModel": "Kolors' ChatGLM"}
KEEP, EMPTY, HELP = "+", "null", "help"

ARGUMENTS = (
    ArgSpec(name="model", type=str, default="",
            help="a Hugging Face repository id or a folder holding the text encoder"),
    ArgSpec(name="revision", type=str | None, default=None,
            help="the branch, tag or commit of a Hugging Face repository (default main)"),
    ArgSpec(name="variant", type=str | None, default=None,
            help="the weights variant; default --variant, null for none"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the text encoder's folder in the repository or folder; in a whole-model "
                 "single file the encoder to take (text_encoder, text_encoder_2 or its key "
                 "prefix)"),
    ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
            default=None, help="the text encoder's precision (default: the model's --dtype)"),
    ArgSpec(name="quantizer", type=str | None, default=None,
            help="a --quantizer URI quantizing the encoder while it loads (a repository, a "
                 "folder, or a single file with mode=)"),
    ArgSpec(name="mode", type=str | None, default=None,
            help="the architecture of a single-file text encoder: " + ", ".join(MODES)),
)
_KEYWORD = re.compile(r"\s*[A-Za-z_][\w-]*\s*=")
_NO_VARIANT = ("null", "none")


@dataclasses.dataclass(frozen=True)
class TextEncoderUri:
    """A parsed text encoder URI (``text`` as written)."""

    text: str
    cls: str
    model: str
    option: str = OPTION
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None
    quantizer: str | None = None
    mode: str | None = None

    @property
    def what(self) -> str:
        return f"{self.option} {self.text!r}"

    @property
    def is_single_file(self) -> bool:
        if self.model.lower().startswith(("http://", "https://")):
            return True
        local = os.path.expanduser(self.model)
        if os.path.isdir(local):
            return False
        return os.path.isfile(local) or local.lower().endswith(MODEL_FILE_SUFFIXES)

    def variant_for(self, target: LoadTarget) -> str | None:
        if self.variant is not None and self.variant.lower() in _NO_VARIANT:
            return None
        return self.variant if self.variant is not None else target.variant


def _keyword_form(text: str, option: str) -> str:
    """``CLASS;PATH;...`` written as ``CLASS;model="PATH";...``."""
    name, separator, rest = text.partition(";")
    if not separator or not rest.strip() or _KEYWORD.match(rest) or rest.lstrip()[0] in "\"'":
        return text
    path, _, remainder = rest.partition(";")
    if re.search(r"(?:^|;)\s*model\s*=", remainder):
        raise DgenerateError(f"{option} {text!r} gives the model twice: as {path.strip()!r} "
                             "and with model=")
    escaped = path.strip().replace("\\", "\\\\").replace('"', '\\"')
    return f'{name};model="{escaped}"' + (f";{remainder}" if remainder.strip() else "")


def parse_text_encoder_uri(text: str, context: Any, *,
                           option: str = OPTION) -> TextEncoderUri:
    """Check the class and bind the arguments of one text encoder URI (nothing loads)."""
    name = text.split(";", 1)[0].strip()
    if name in _NOT_YET:
        raise DgenerateError(f"{option} {text!r}: {_NOT_YET[name]} ({name}) cannot be given "
                             f"yet; the classes supported are {', '.join(CLASSES)}")
    if name not in CLASSES:
        known = (*CLASSES, *_NOT_YET)
        same = {cls.lower(): cls for cls in known}.get(name.lower())
        close = [same] if same else difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        suggestion = f"; did you mean {close[0]!r}?" if close else "."
        raise DgenerateError(
            f"{option} {text!r}: unknown text encoder class {name!r}{suggestion} A text "
            f"encoder URI starts with its class, one of {', '.join(CLASSES)} (such as "
            f"CLIPTextModel;model=PATH), or is {KEEP} (the model's own) or {EMPTY} (none)")
    try:
        _, arguments = context.parse_uri(_keyword_form(text, option), ARGUMENTS,
                                         owner=f"{option} {name}")
    except DgenerateError as error:
        message = str(error)
        if message.startswith(option):
            raise DgenerateError(f"{message.rstrip('.')} (in {option} {text!r})") from None
        raise DgenerateError(f"{option} {text!r}: {message}") from None
    arguments.setdefault("model", "")
    uri = TextEncoderUri(text=text, cls=name, option=option, **arguments)
    if not uri.model.strip():
        raise DgenerateError(f"{uri.what} names no model: give model=PATH")
    if uri.mode is not None:
        _check_mode_uri(uri, context)
    elif uri.subfolder is not None and uri.is_single_file:
        _check_checkpoint_uri(uri)
    elif uri.quantizer is not None and uri.is_single_file:
        raise DgenerateError(f"{uri.what}: a single file is quantized only with mode= (the "
                             "architecture it holds)")
    elif uri.quantizer is not None:
        _quantizer(uri, context, device=None)
    elif uri.is_single_file:
        raise DgenerateError(
            f"{uri.what}: a single-file text encoder needs mode= (the architecture it holds: "
            f"{', '.join(MODES)}); to take an encoder out of a whole-model checkpoint give "
            "subfolder= (text_encoder or text_encoder_2)")
    return uri


def _check_checkpoint_uri(uri: TextEncoderUri) -> None:
    """``subfolder=`` in a single file: the encoder of a whole-model checkpoint, which
    takes only dtype besides."""
    if not uri.subfolder or not uri.subfolder.strip(" ./"):
        raise DgenerateError(f"{uri.what}: subfolder= names the text encoder to take out of "
                             "the whole-model checkpoint (text_encoder, text_encoder_2 or its "
                             "key prefix); it is empty")
    if uri.quantizer is not None:
        raise DgenerateError(f"{uri.what}: quantizer cannot be given for a text encoder taken "
                             "out of a whole-model checkpoint (subfolder= in a single file); "
                             "quantize a single-file encoder given with mode=, or one in a "
                             "repository or folder")
    refused = [name for name in ("revision", "variant") if getattr(uri, name) is not None
               and not (name == "variant" and uri.variant.lower() in _NO_VARIANT)]
    if refused:
        raise DgenerateError(f"{uri.what}: a text encoder taken out of a whole-model "
                             "checkpoint (subfolder= in a single file) takes only the "
                             f"arguments subfolder and dtype; not {', '.join(refused)}")


def _check_mode_uri(uri: TextEncoderUri, context: Any) -> None:
    """``mode=``: a known mode of the URI's class, for one single file, with the arguments
    a single file takes; its quantizer exists."""
    assert uri.mode is not None
    check_mode(uri.mode, uri.cls, uri.what)
    if uri.subfolder is not None:
        raise DgenerateError(f"{uri.what}: mode and subfolder cannot be given together (mode= "
                             "loads a single file holding one text encoder)")
    if not uri.is_single_file:
        raise DgenerateError(f"{uri.what}: mode= is for a single-file text encoder (a "
                             f".safetensors file, a URL or a blob link); {uri.model!r} is not one")
    refused = [name for name in ("revision", "variant") if getattr(uri, name) is not None
               and not (name == "variant" and uri.variant.lower() in _NO_VARIANT)]
    if refused:
        raise DgenerateError(f"{uri.what}: a single file takes only the arguments mode, dtype "
                             f"and quantizer; not {', '.join(refused)}")
    if uri.quantizer is not None:
        _quantizer(uri, context, device=None)


def _quantizer(uri: TextEncoderUri, context: Any, *, device: str | None) -> Any:
    from ..specs import Category

    extra = {} if device is None else {"device": device}
    try:
        return context.create(Category.QUANTIZER, uri.quantizer, **extra)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: quantizer={uri.quantizer!r}: {error}") from None


def _class_name(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1]
    name = getattr(annotation, "__name__", None)
    if name and getattr(annotation, "__args__", None) is None:
        return name
    for argument in getattr(annotation, "__args__", ()) or ():
        if argument is not type(None):
            return _class_name(argument)
    return name


def pipeline_slots(pipeline_class: Any, model: Any = None,
                   subfolder: str | None = None) -> list[tuple[str, str | None]]:
    """The text encoder slots of a pipeline class, in order: (name, class name). With
    ``model`` (a ``ResolvedModel`` folder), the slots its ``model_index.json`` leaves empty
    (the SDXL refiner's ``text_encoder``) are not counted."""
    parameters = inspect.signature(pipeline_class.__init__).parameters
    slots = [(name, _class_name(parameter.annotation)) for name, parameter in parameters.items()
             if re.fullmatch(r"text_encoder(_\d+)?", name)]
    empty = _empty_slots(model, subfolder)
    return [slot for slot in slots if slot[0] not in empty]


def _empty_slots(model: Any, subfolder: str | None) -> set[str]:
    if model is None or getattr(model, "kind", None) != "folder":
        return set()
    index = os.path.join(model.location, subfolder or "", "model_index.json")
    try:
        with open(index, encoding="utf-8") as file:
            saved = json.load(file)
    except (OSError, ValueError):
        return set()
    return {name for name, value in saved.items() if name.startswith("text_encoder")
            and (value is None or (isinstance(value, list) and value[0] is None))}


def asks_help(given: Sequence[str] | str | None) -> bool:
    """Whether the values are ``help`` alone (list the slots instead of rendering)."""
    if isinstance(given, str):
        given = [given]
    return [str(text).strip().lower() for text in given or ()] == [HELP]


def parse_text_encoders(given: Sequence[str] | str | None, context: Any, *,
                        option: str = OPTION) -> list[TextEncoderUri | str] | None:
    """The values of a text encoders option, parsed: a URI, ``+`` or ``null`` per slot; None
    when not given or ``help``."""
    if not given:
        return None
    if isinstance(given, str):
        given = [given]
    texts = [str(text).strip() for text in given]
    if HELP in (text.lower() for text in texts):
        if len(texts) != 1:
            raise DgenerateError(f"{option} help lists the text encoders of the model; it "
                                 "takes no other value")
        return None
    return [text if text == KEEP else EMPTY if text.lower() == EMPTY
            else parse_text_encoder_uri(text, context, option=option) for text in texts]


def text_encoders_key(entries: Sequence[TextEncoderUri | str] | None) -> Hashable:
    """What a pipeline loaded with these text encoders depends on (for its cache key)."""
    if entries is None:
        return None
    return tuple(entry if isinstance(entry, str) else _uri_key(entry) for entry in entries)


def describe_text_encoders(target: LoadTarget) -> str:
    """The ``--text-encoders help`` text: the text encoder slots of the model's pipeline."""
    slots = pipeline_slots(target.pipeline_class, target.model, target.subfolder)
    model_type = target.model_type
    lines = ["Text encoder type help:", ""]
    lines.extend(f"    {index} = {cls or 'unknown'} ({name})"
                 for index, (name, cls) in enumerate(slots))
    if not slots:
        lines.append(f"    (the {model_type} model type has no text encoder slots)")
    return "\n".join(lines)


def text_encoder_components(entries: Sequence[TextEncoderUri | str] | None, context: Any,
                            target: LoadTarget, *, option: str = OPTION,
                            cache: str = "text_encoder") -> dict[str, Any]:
    """``from_pretrained`` keywords for the pipeline ``target.pipeline_class``: the loaded
    encoders by slot (from the ``cache`` object cache), None for emptied slots (and their
    tokenizers). ``+`` gives nothing: the slot keeps its default (the model's own, or one
    shared by ``\\use_modules``). Slots and classes are checked before anything loads."""
    if not entries:
        return {}
    slots = pipeline_slots(target.pipeline_class, target.model, target.subfolder)
    if len(entries) > len(slots):
        names = ", ".join(name for name, _ in slots) or "none"
        raise DgenerateError(
            f"{option}: {len(entries)} text encoders given, and the pipeline of the "
            f"{target.model_type} model type has {len(slots)} text encoder slot"
            f"{'s' if len(slots) != 1 else ''} ({names}); see {option} help")
    optional = set(getattr(target.pipeline_class, "_optional_components", ()) or ())
    planned: dict[str, TextEncoderUri | None] = {}
    for index, (entry, (slot, cls)) in enumerate(zip(entries, slots, strict=False)):
        if entry == KEEP:
            continue
        if entry == EMPTY:
            if slot not in optional:
                raise DgenerateError(
                    f"{option}: null (entry {index + 1}) cannot empty the slot {slot} of the "
                    f"{target.model_type} model type: its pipeline needs that text encoder")
            planned[slot] = None
            continue
        assert isinstance(entry, TextEncoderUri)
        if cls is not None and cls != entry.cls:
            raise DgenerateError(
                f"{entry.what}: the slot {slot} (entry {index + 1}) of the "
                f"{target.model_type} model type takes a {cls}, not a {entry.cls}; see "
                f"{option} help")
        planned[slot] = entry
    result: dict[str, Any] = {}
    for slot, entry in planned.items():
        if entry is None:
            result[slot] = None
            tokenizer = slot.replace("text_encoder", "tokenizer")
            if tokenizer in optional:
                result[tokenizer] = None
        else:
            result[slot] = _load(entry, context, target, cache, slot)
    return result


def _load(uri: TextEncoderUri, context: Any, target: LoadTarget, cache: str,
          slot: str = "text_encoder") -> Any:
    try:
        located = resolve_model(uri.model, fetch=context.fetch, token=target.token,
                                offline=context.offline_mode)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: {error}") from None
    dtype = target.dtype if uri.dtype is None else resolve_dtype(uri.dtype, target.device)
    if uri.mode is not None:
        return _load_mode(uri, located, context, target, cache, slot, dtype)
    if located.kind == "file" and uri.subfolder is not None:
        return _load_checkpoint(uri, located, context, target, cache, slot, dtype)
    variant = uri.variant_for(target)
    if located.kind == "folder":
        _check_folder(uri, located.location)
    key = ("text_encoder", uri.cls, located.kind, located.location, uri.revision or "main",
           variant, uri.subfolder, str(dtype), uri.quantizer)

    def create() -> Any:
        context.debug(f"loading the text encoder of {uri.what} from {located.location!r} "
                      f"({dtype})")
        quantization = None if uri.quantizer is None else _quantizer(
            uri, context, device=target.device).transformers_config()
        return _load_pretrained(uri, located, dtype, variant, target,
                                getattr(context, "verbose", False), quantization)

    return context.cache(cache).get_or_create(key, create,
                                              size=_size(located.location, uri.subfolder))


def _load_mode(uri: TextEncoderUri, located: Any, context: Any, target: LoadTarget,
               cache: str, slot: str, dtype: Any) -> Any:
    """A single file of the architecture ``mode=`` names, configured like the encoder it
    replaces (or with the mode's built-in configuration)."""
    assert uri.mode is not None
    if located.kind != "file":
        raise DgenerateError(f"{uri.what}: mode= is for a single-file text encoder; "
                             f"{located.location!r} is not one")
    mode = check_mode(uri.mode, uri.cls, uri.what)
    with _quiet(getattr(context, "verbose", False)):
        found = own_config(target, slot, uri.cls)
    # the configuration is part of what the encoder is
    configured = None if found is None else json.dumps(found[0].to_diff_dict(),
                                                       sort_keys=True, default=str)
    key = ("text_encoder", uri.cls, "file", located.location, mode.name, str(dtype),
           uri.quantizer, configured)

    def create() -> Any:
        context.debug(f"loading the mode={mode.name} text encoder of {uri.what} from "
                      f"{located.location!r} ({dtype}), configured by "
                      + ("dgenerate's built-in configuration" if found is None else found[1]))
        quantization = None if uri.quantizer is None else _quantizer(
            uri, context, device=target.device).transformers_config()
        with _quiet(getattr(context, "verbose", False)):
            return load_mode_file(uri.what, located.location, mode, uri.cls, found, dtype,
                                  quantization)

    return context.cache(cache).get_or_create(key, create,
                                              size=os.path.getsize(located.location))


def _load_checkpoint(uri: TextEncoderUri, located: Any, context: Any, target: LoadTarget,
                     cache: str, slot: str, dtype: Any) -> Any:
    """The encoder ``subfolder=`` names inside a whole-model single file, configured like
    the encoder it replaces (or as its weights' shapes say)."""
    from .text_encoder_checkpoints import checkpoint_part_size, load_checkpoint_encoder

    assert uri.subfolder is not None
    with _quiet(getattr(context, "verbose", False)):
        found = own_config(target, slot, uri.cls)
    configured = None if found is None else json.dumps(found[0].to_diff_dict(),
                                                       sort_keys=True, default=str)
    subfolder = uri.subfolder.strip()
    key = ("text_encoder", uri.cls, "checkpoint", located.location, subfolder, str(dtype),
           configured)

    def create() -> Any:
        context.debug(f"loading the text encoder {subfolder!r} of {uri.what} out of the "
                      f"whole-model checkpoint {located.location!r} ({dtype}), configured by "
                      + ("its weights' shapes" if found is None else found[1]))
        with _quiet(getattr(context, "verbose", False)):
            return load_checkpoint_encoder(uri.what, located.location, subfolder, uri.cls,
                                           found, dtype)

    return context.cache(cache).get_or_create(
        key, create, size=checkpoint_part_size(located.location, subfolder))


def _uri_key(uri: TextEncoderUri) -> Hashable:
    local = os.path.expanduser(uri.model)
    where = os.path.abspath(local) if os.path.exists(local) else uri.model
    return (uri.cls, where, uri.revision or "main", uri.variant, uri.subfolder, uri.dtype,
            uri.quantizer, uri.mode)


def _size(location: str, subfolder: str | None) -> int:
    folder = os.path.join(location, subfolder or "")
    if not os.path.isdir(folder):
        return 0
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)
               if os.path.isfile(os.path.join(folder, name)))


def _check_folder(uri: TextEncoderUri, location: str) -> None:
    folder = os.path.join(location, uri.subfolder) if uri.subfolder else location
    if uri.subfolder and not os.path.isdir(folder):
        raise DgenerateError(f"{uri.what}: the folder {location!r} has no subfolder "
                             f"{uri.subfolder!r}")
    config = os.path.join(folder, "config.json")
    if not os.path.isfile(config):
        hint = ("; it holds a whole pipeline: add subfolder=text_encoder (or text_encoder_2)"
                if os.path.isfile(os.path.join(folder, "model_index.json")) else "")
        raise DgenerateError(f"{uri.what}: {folder!r} is not a text encoder folder (it has no "
                             f"config.json){hint}")
    try:
        with open(config, encoding="utf-8") as file:
            saved = json.load(file).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return
    if saved and uri.cls not in saved:
        raise DgenerateError(f"{uri.what}: {folder!r} holds a {saved[0]}, not a {uri.cls}")


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
        return
    import transformers.utils.logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(level)


def _load_pretrained(uri: TextEncoderUri, located: Any, dtype: Any, variant: str | None,
                     target: LoadTarget, verbose: bool, quantization: Any = None) -> Any:
    import transformers

    from .loading import hub_offline

    cls = getattr(transformers, uri.cls)
    options: dict[str, Any] = {"local_files_only": target.offline}
    if quantization is not None:
        options["quantization_config"] = quantization
    if uri.subfolder:
        options["subfolder"] = uri.subfolder
    if located.kind == "hub":
        options["revision"] = uri.revision or "main"
        if target.token:
            options["token"] = target.token
    where = (f"the Hugging Face repository {located.location!r}" if located.kind == "hub"
             else f"the folder {located.location!r}")
    with hub_offline(target.offline), _quiet(verbose):
        try:
            try:
                encoder = cls.from_pretrained(located.location, dtype=dtype, variant=variant,
                                              **options)
            except Exception:
                if variant is None or uri.variant is not None:
                    raise
                # --variant given to the model, not to the encoder: plain weights will do
                encoder = cls.from_pretrained(located.location, dtype=dtype, **options)
        except Exception as error:
            text = " ".join(str(error).split())[:400]
            raise DgenerateError(f"{uri.what}: cannot load the text encoder from {where}: "
                                 f"{type(error).__name__}: {text}") from error
    return encoder.eval()
