"""The image encoder of IP adapters: ``--image-encoder PATH``, or the one beside the adapter.

An image encoder is a CLIP vision model with a projection
(``CLIPVisionModelWithProjection``): it turns every IP adapter image into the embedding
the adapter projects into the UNet's cross attention. It loads from a Hugging Face
repository or a folder holding its ``config.json`` (never from a single file: the
configuration is needed) and is kept in the ``image_encoder`` object cache under its
creation parameters, so one encoder used by several pipelines loads once. The pipeline
gets it as its ``image_encoder`` component.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import warnings
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Literal

from dgenerate.plugin_api import ArgSpec, DgenerateError, LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.devices import resolve_dtype
from dgenerate.plugin_api.diffusion.loading import (
    describe_component_failure,
    first_paragraph,
    hub_offline,
    where_text,
)
from dgenerate.plugin_api.diffusion.sources import MODEL_FILE_SUFFIXES, ResolvedModel
from dgenerate.plugin_api.specs import Category

__all__ = ["ENCODER_ARGUMENTS", "EncoderSource", "ImageEncoder", "encoder_size",
           "load_image_encoder", "parse_encoder_uri"]

ENCODER_ARGUMENTS = (
    ArgSpec(name="revision", type=str | None, default=None,
            help="the branch, tag or commit of a Hugging Face repository (default main)"),
    ArgSpec(name="variant", type=str | None, default=None,
            help="the weights variant (model.<variant>.safetensors); it does not follow "
                 "--variant"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the folder of the image encoder inside the repository or folder"),
    ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
            default=None, help="the image encoder's precision (default: the model's --dtype)"),
)

_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: the configurations a CLIP vision model with a projection loads from
_CLIP_TYPES = ("clip_vision_model", "clip")


@dataclasses.dataclass(frozen=True)
class EncoderSource:
    """Where an image encoder is: ``kind`` ``folder`` or ``hub``; ``what`` names it in
    messages (``--image-encoder 'x'``, or the IP adapter it was found beside)."""

    what: str
    kind: str
    location: str
    subfolder: str | None = None
    revision: str | None = None
    variant: str | None = None
    dtype: str | None = None

    @property
    def resolved(self) -> ResolvedModel:
        return ResolvedModel(self.kind, self.location, os.path.basename(self.location))

    @property
    def folder(self) -> str:
        """The folder holding config.json (folders only)."""
        return os.path.join(self.location, self.subfolder) if self.subfolder else self.location

    def key(self) -> Hashable:
        return (self.kind, self.location, self.subfolder, self.revision or "main",
                self.variant, self.dtype)


def parse_encoder_uri(text: str, context: Any) -> EncoderSource:
    """A ``--image-encoder`` URI checked: clear errors before anything loads."""
    what = f"--image-encoder {text!r}"
    path, arguments = context.parse_uri(text, ENCODER_ARGUMENTS, owner=what)
    if not path.strip():
        raise DgenerateError(f"{what} names no image encoder")
    lowered = path.lower()
    if lowered.startswith(("http://", "https://")):
        raise DgenerateError(
            f"{what}: image encoders load from a Hugging Face repository or a folder with "
            "their config.json, not from a URL or blob link (give the repository id, with "
            "subfolder= for the encoder's folder)")
    local = os.path.expanduser(path)
    if os.path.isdir(local):
        source = EncoderSource(what, "folder", os.path.abspath(local), **arguments)
        check_encoder_folder(source)
        return source
    if os.path.isfile(local) or lowered.endswith(MODEL_FILE_SUFFIXES):
        raise DgenerateError(
            f"{what}: image encoders do not load from single files: give the folder that "
            "holds the weights and their config.json")
    if _SLUG.match(path):
        return EncoderSource(what, "hub", path, **arguments)
    raise DgenerateError(f"{what}: the folder {path!r} does not exist (and it is not a "
                         "Hugging Face repository id, owner/name)")


def check_encoder_folder(source: EncoderSource) -> None:
    """A folder image encoder has its subfolder and its config.json, of a CLIP vision
    model."""
    if source.subfolder and not os.path.isdir(source.folder):
        raise DgenerateError(f"{source.what}: the folder {source.location!r} has no subfolder "
                             f"{source.subfolder!r}")
    config = os.path.join(source.folder, "config.json")
    if not os.path.isfile(config):
        hint = ""
        if not source.subfolder and os.path.isfile(
                os.path.join(source.folder, "image_encoder", "config.json")):
            hint = "; add subfolder=image_encoder"
        raise DgenerateError(f"{source.what}: {source.folder!r} is not an image encoder "
                             f"folder (it has no config.json){hint}")
    try:
        with open(config, encoding="utf-8") as file:
            settings = json.load(file)
        model_type = settings.get("model_type") or settings.get("_class_name")
    except (OSError, ValueError, AttributeError) as error:
        raise DgenerateError(f"{source.what}: cannot read {config!r}: "
                             f"{first_paragraph(error)}") from error
    if model_type is not None and model_type not in _CLIP_TYPES:
        raise DgenerateError(f"{source.what}: {source.folder!r} holds a {model_type!r} model, "
                             "not a CLIP vision model (CLIPVisionModelWithProjection)")


def load_image_encoder(source: EncoderSource, context: Any, target: LoadTarget, *,
                       cache: str = "image_encoder") -> Any:
    """The ``CLIPVisionModelWithProjection`` of ``source``, from the object cache ``cache``."""
    dtype = target.dtype if source.dtype is None else resolve_dtype(source.dtype, target.device)
    # the device too: the pipeline moves its image encoder there
    key = (*source.key(), str(dtype), target.device)

    def create() -> Any:
        context.debug(f"loading the image encoder of {source.what} from "
                      f"{where_text(source.resolved, source.revision)}"
                      + (f", subfolder {source.subfolder!r}" if source.subfolder else "")
                      + f" ({dtype})")
        return _load(source, dtype, target, getattr(context, "verbose", False))

    size = _folder_size(source.folder) if source.kind == "folder" else 0
    return context.cache(cache).get_or_create(key, create, size=size)


def encoder_size(encoder: Any) -> tuple[int, int]:
    """(image side, embedding width) of a loaded image encoder."""
    config = encoder.config
    return int(config.image_size), int(config.projection_dim)


def _folder_size(folder: str) -> int:
    with contextlib.suppress(OSError):
        return sum(entry.stat().st_size for entry in os.scandir(folder)
                   if entry.is_file() and entry.name.endswith(MODEL_FILE_SUFFIXES))
    return 0


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _load(source: EncoderSource, dtype: Any, target: LoadTarget, verbose: bool) -> Any:
    from transformers import CLIPVisionModelWithProjection, PretrainedConfig

    offline = target.offline
    options: dict[str, Any] = {"local_files_only": offline}
    if source.subfolder:
        options["subfolder"] = source.subfolder
    if source.kind == "hub":
        options["revision"] = source.revision or "main"
        if target.token:
            options["token"] = target.token
    else:
        check_encoder_folder(source)
    located = source.resolved
    with hub_offline(offline), _quiet(verbose):
        if source.kind == "hub":
            try:
                config, _ = PretrainedConfig.get_config_dict(source.location, **options)
            except Exception as error:
                raise DgenerateError(_failure(source, error, offline, "config.json")) from error
            model_type = config.get("model_type") or config.get("_class_name")
            if model_type is not None and model_type not in _CLIP_TYPES:
                raise DgenerateError(
                    f"{source.what}: {where_text(located, source.revision)} holds a "
                    f"{model_type!r} model, not a CLIP vision model "
                    "(CLIPVisionModelWithProjection)")
        try:
            encoder, info = CLIPVisionModelWithProjection.from_pretrained(
                source.location, dtype=dtype, variant=source.variant, output_loading_info=True,
                **options)
        except Exception as error:
            if source.variant and source.variant in str(error):
                raise DgenerateError(
                    f"{source.what}: {where_text(located, source.revision)} has no weights of "
                    f"the variant {source.variant!r} (model.{source.variant}.safetensors)"
                ) from error
            if source.kind == "hub":
                raise DgenerateError(_failure(source, error, offline, "the weights")) from error
            raise DgenerateError(f"{source.what}: cannot load the image encoder from "
                                 f"{where_text(located)}: {first_paragraph(error)}") from error
    missing = list((info or {}).get("missing_keys") or ())
    if missing:
        raise DgenerateError(
            f"{source.what}: the weights of {where_text(located, source.revision)} lack "
            f"{len(missing)} of a CLIPVisionModelWithProjection, such as {sorted(missing)[0]!r} "
            "(an image encoder for IP adapters has a visual projection)")
    return encoder.eval()


def _failure(source: EncoderSource, error: Exception, offline: bool, what_file: str) -> str:
    hint = (f" (in its subfolder {source.subfolder!r})" if source.subfolder else
            " (when the encoder is in a folder of the repository, give subfolder)")
    return describe_component_failure(source.what, source.resolved, error,
                                      revision=source.revision, offline=offline,
                                      what_file=what_file, missing_hint=hint,
                                      component="image encoder")


class ImageEncoder(SubModel):
    """The image encoder of the IP adapters: ``--image-encoder "PATH;ARGUMENT=VALUE..."``.

    PATH is a Hugging Face repository id or a folder with the encoder's config.json.
    Arguments: ``revision``, ``variant`` (it does not follow --variant), ``subfolder``
    and ``dtype`` (default --dtype).
    """

    def source(self, values: Mapping[str, Any]) -> EncoderSource | None:
        text = values.get(self.option_names[0] if self.option_names else "image_encoder")
        return None if text is None else parse_encoder_uri(text, self.context)

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        # with a model type that takes IP adapters, the encoder serves them; one that takes
        # an image encoder but no IP adapters (image prompts) uses it alone
        if (values.get(self.option_names[0] if self.option_names else "image_encoder")
                is not None and not values.get("ip_adapters") and self._serves_adapters(
                    model_type)):
            raise DgenerateError("--image-encoder needs --ip-adapters")
        self.source(values)

    def _serves_adapters(self, model_type: str) -> bool:
        for spec in self.context.specs(Category.MODEL_TYPE):
            if model_type in spec.names:
                return "ip_adapter" in spec.capabilities.slots
        return True

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        source = self.source(values)
        return None if source is None else source.key()

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        source = self.source(values)
        if source is None:
            return {}
        import inspect

        if "image_encoder" not in inspect.signature(target.pipeline_class.__init__).parameters:
            raise DgenerateError(f"--image-encoder does not work with --model-type "
                                 f"{target.model_type}: its pipeline "
                                 f"{target.pipeline_class.__name__} has no image encoder")
        return {"image_encoder": load_image_encoder(source, self.context, target,
                                                    cache=self.slot or "image_encoder")}
