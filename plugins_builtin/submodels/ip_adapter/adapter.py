"""IP adapters given with ``--ip-adapters``: loaded into the denoiser, fed images per job.

An IP adapter ("image prompt adapter") adds a second cross attention to the denoiser (the
UNet of Stable Diffusion, SDXL and Kolors; the double-stream blocks of the Flux
transformer) that attends to embeddings of images instead of text: the adapter's images
(from ``--image-seeds``: ``adapter: a.png + b.png, c.png`` or ``img.png;adapter=...``) go
through an image encoder (a CLIP vision model), the adapter projects the embeddings to
a few tokens, and every cross-attention layer adds what it sees in them, weighted by the
adapter's ``scale``.

Every URI is checked before anything loads. The weights files are read here (a
``.safetensors`` file with ``image_proj.`` / ``ip_adapter.`` prefixed keys, or with the
names of the XLabs Flux adapters, ``ip_adapter_proj_model.`` / ``double_blocks.``; or a
pickled ``{"image_proj": ..., "ip_adapter": ...}`` read as weights only) and given to
diffusers' ``load_ip_adapter`` together, which replaces the denoiser's attention
processors and adds the image projection. The adapters are part of the pipeline's cache
key; their scales are not (they are set before each call). The image encoder is the one
of ``--image-encoder``, else the first ``image_encoder`` folder found beside an adapter's
weights (diffusers' convention), from the ``image_encoder`` object cache.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import os
import posixpath
import re
import urllib.parse
import warnings
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from dgenerate.plugin_api import ArgSpec, DgenerateError, LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.loading import error_chain, first_paragraph, hub_offline
from dgenerate.plugin_api.diffusion.sources import MODEL_FILE_SUFFIXES

from .encoder import EncoderSource, encoder_size, load_image_encoder

__all__ = ["IP_ADAPTER_ARGUMENTS", "AdapterSource", "IPAdapter", "read_ip_adapter"]

#: the URI arguments of --ip-adapters (the syntax of --loras)
IP_ADAPTER_ARGUMENTS = (
    ArgSpec(name="scale", type=float, default=1.0,
            help="how strongly the adapter's images steer the picture (0: not at all)"),
    ArgSpec(name="revision", type=str, default="main",
            help="the branch, tag or commit of a Hugging Face repository"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the folder of the weights inside the repository or folder"),
    ArgSpec(name="weight_name", type=str | None, default=None,
            help="the weights file to load from the repository or folder"),
)
#: what a file or URL can take: the rest say where to look inside a repository or folder
_SINGLE_FILE_ARGUMENTS = {"scale"}
#: the folder diffusers looks for an adapter's image encoder in, beside its weights
ENCODER_FOLDER = "image_encoder"

_HF_LINK = re.compile(
    r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[^/]+/[^/?#]+)/"
    r"(?:blob|resolve)/(?P<revision>[^/]+)/(?P<file>[^?#]+)", re.IGNORECASE)
_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclasses.dataclass(frozen=True)
class AdapterSource:
    """One ``--ip-adapters`` URI, checked. ``kind`` is ``file`` (a weights file on disk),
    ``url`` (downloaded into the web cache), ``folder`` or ``hub`` (a repository id)."""

    uri: str
    kind: str
    location: str
    scale: float
    revision: str = "main"
    subfolder: str | None = None
    weight_name: str | None = None

    @property
    def what(self) -> str:
        return f"--ip-adapters {self.uri!r}"

    def key(self) -> Hashable:
        """What the loaded adapter depends on (not its scale, which is set per call); a
        file's size and time catch a rewritten file."""
        stamp: tuple[int, int] | None = None
        if self.kind == "file":
            with contextlib.suppress(OSError):
                info = os.stat(self.location)
                stamp = (info.st_size, info.st_mtime_ns)
        return (self.kind, self.location, self.revision, self.subfolder, self.weight_name,
                stamp)

    def encoder_places(self) -> list[tuple[str, str | None]]:
        """Where this adapter's image encoder may be, in order: (folder or repository,
        subfolder). Beside the weights first, then at the top of the repository or folder."""
        if self.kind == "url":
            return []
        if self.kind == "file":
            return [(os.path.join(os.path.dirname(self.location), ENCODER_FOLDER), None)]
        inner = posixpath.dirname(self.weight_name or "")
        beside = posixpath.join(*filter(None, (self.subfolder, inner)), ENCODER_FOLDER)
        places = [(self.location, beside)]
        if beside != ENCODER_FOLDER:
            places.append((self.location, ENCODER_FOLDER))
        if self.kind == "folder":
            return [(os.path.join(location, *subfolder.split("/")), None)
                    for location, subfolder in places]
        return places


def _blob_link_advice(match: re.Match[str]) -> str:
    repo = urllib.parse.unquote(match.group("repo"))
    revision = urllib.parse.unquote(match.group("revision"))
    folder, _, name = urllib.parse.unquote(match.group("file")).rpartition("/")
    parts = [repo]
    if folder:
        parts.append(f"subfolder={folder}")
    parts.append(f"weight-name={name}")
    if revision != "main":
        parts.append(f"revision={revision}")
    return ";".join(parts)


#: the names of the XLabs Flux adapters: image projection prefix, attention prefix
_XLABS_PROJECTION = "ip_adapter_proj_model."
_XLABS_BLOCK = re.compile(r"^double_blocks\.(\d+)\.processor\.ip_adapter_double_stream_"
                          r"(k|v)_proj\.(weight|bias)$")


def _split_flat(keys: list[str]) -> dict[str, dict[str, str]]:
    """Where each key of a flat weights file goes: ``{part: {name: key}}`` with the parts
    ``image_proj`` and ``ip_adapter`` and diffusers' names. Keys prefixed ``image_proj.`` /
    ``ip_adapter.`` keep their names; the XLabs Flux names are renamed (the n-th
    double-stream block's ``ip_adapter_double_stream_k_proj`` is ``n.to_k_ip``)."""
    parts: dict[str, dict[str, str]] = {"image_proj": {}, "ip_adapter": {}}
    for key in keys:
        part, dot, rest = key.partition(".")
        if dot and part in parts:
            parts[part][rest] = key
        elif key.startswith(_XLABS_PROJECTION):
            parts["image_proj"][key[len(_XLABS_PROJECTION):]] = key
        else:
            block = _XLABS_BLOCK.match(key)
            if block:
                index, which, kind = block.groups()
                parts["ip_adapter"][f"{index}.to_{which}_ip.{kind}"] = key
    return parts


def read_ip_adapter(path: str, what: str) -> dict[str, dict[str, Any]]:
    """The two parts of an IP adapter weights file: ``{"image_proj": {...},
    "ip_adapter": {...}}``. Pickles are read as weights only, never as code."""
    import torch

    try:
        if path.lower().endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, framework="pt", device="cpu") as file:
                parts = _split_flat(list(file.keys()))
                state: Any = {part: {name: file.get_tensor(key) for name, key in names.items()}
                              for part, names in parts.items()}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, Mapping) and "image_proj" not in state and all(
                    isinstance(key, str) for key in state):
                # a flat pickle (the XLabs names, or prefixed keys)
                flat = state
                state = {part: {name: flat[key] for name, key in names.items()}
                         for part, names in _split_flat(list(flat)).items()}
    except Exception as error:
        raise DgenerateError(f"{what}: the file {os.path.basename(path)!r} cannot be read "
                             f"({type(error).__name__}: {first_paragraph(error)})") from error
    if (not isinstance(state, Mapping) or not isinstance(state.get("image_proj"), Mapping)
            or not isinstance(state.get("ip_adapter"), Mapping)
            or not state["image_proj"] or not state["ip_adapter"]):
        raise DgenerateError(
            f"{what}: {os.path.basename(path)!r} is not an IP adapter (it has no image_proj "
            "and ip_adapter weights)")
    return {"image_proj": dict(state["image_proj"]), "ip_adapter": dict(state["ip_adapter"])}


def _embedding_width(image_proj: Mapping[str, Any]) -> tuple[str, int] | None:
    """What an adapter's image projection takes from the image encoder: ``("embeds", n)``
    (the projected image embedding) or ``("hidden", n)`` (the hidden states, plus
    adapters); None for kinds read otherwise (face ID)."""
    if "proj.weight" in image_proj:  # the basic adapter
        return "embeds", int(image_proj["proj.weight"].shape[-1])
    if "proj.3.weight" in image_proj:  # the "full" adapter
        return "hidden", int(image_proj["proj.0.weight"].shape[1])
    if "proj_in.weight" in image_proj and "latents" in image_proj:  # plus
        return "hidden", int(image_proj["proj_in.weight"].shape[1])
    return None


class IPAdapter(SubModel):
    """IP adapters (``--ip-adapters``) given images by ``--image-seeds`` (``adapter:``).

    Each URI is a Hugging Face repository, a folder, a weights file or an http(s) URL of
    one, with the arguments ``scale``, ``revision``, ``subfolder`` and ``weight-name`` (a
    file or URL takes only ``scale``).
    """

    #: the pipelines that may run must take the images (the SD T2I adapter pipeline does not)
    call_parameters = ("ip_adapter_image",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sources: dict[str, AdapterSource] = {}

    # ------------------------------------------------------------------ options

    def given(self, values: Mapping[str, Any]) -> bool:
        return bool(values.get(self._option))

    @property
    def _option(self) -> str:
        return self.option_names[0] if self.option_names else "ip_adapters"

    def sources(self, values: Mapping[str, Any]) -> list[AdapterSource]:
        """The ``--ip-adapters`` URIs, parsed and checked (nothing is downloaded)."""
        return [self.source(uri) for uri in values.get(self._option) or ()]

    def source(self, uri: str) -> AdapterSource:
        known = self._sources.get(uri)
        if known is None:
            known = self._sources[uri] = self._parse(uri)
        return known

    def _parse(self, uri: str) -> AdapterSource:
        what = f"--ip-adapters {uri!r}"
        path, arguments = self.context.parse_uri(uri, IP_ADAPTER_ARGUMENTS, owner=what)
        scale = arguments.get("scale", 1.0)
        if not math.isfinite(scale):
            raise DgenerateError(f"{what}: scale must be a finite number, not {scale!r}")
        link = _HF_LINK.match(path)
        if link:
            raise DgenerateError(
                f"{what}: Hugging Face blob links are not accepted for IP adapters; give the "
                f"repository with subfolder and weight-name instead: "
                f"{_blob_link_advice(link)!r}")
        kind, location = self._locate(path, what)
        if kind in ("file", "url"):
            extra = sorted(set(arguments) - _SINGLE_FILE_ARGUMENTS)
            if extra:
                which = "a single weights file" if kind == "file" else "a URL of a weights file"
                raise DgenerateError(
                    f"{what}: {which} takes only the scale argument, not "
                    f"{', '.join(name.replace('_', '-') for name in extra)} (those say where "
                    "the weights are inside a Hugging Face repository or a folder)")
        source = AdapterSource(uri=uri, kind=kind, location=location, scale=scale,
                               revision=arguments.get("revision", "main"),
                               subfolder=arguments.get("subfolder"),
                               weight_name=arguments.get("weight_name"))
        if kind == "folder":
            source = dataclasses.replace(source, weight_name=self._folder_weights(source))
        elif kind == "hub" and not source.weight_name:
            raise DgenerateError(
                f"{what}: give weight-name, the adapter's weights file in the repository "
                "(such as weight-name=ip-adapter_sd15.safetensors, with subfolder= for its "
                "folder)")
        return source

    @staticmethod
    def _locate(path: str, what: str) -> tuple[str, str]:
        lowered = path.lower()
        if lowered.startswith(("http://", "https://")):
            return "url", path
        expanded = os.path.expanduser(path)
        if os.path.isdir(expanded):
            return "folder", os.path.abspath(expanded)
        if os.path.isfile(expanded):
            if not lowered.endswith(MODEL_FILE_SUFFIXES):
                raise DgenerateError(f"{what}: {path!r} is not a weights file "
                                     f"({', '.join(MODEL_FILE_SUFFIXES)})")
            return "file", os.path.abspath(expanded)
        if _SLUG.match(path) and not lowered.endswith(MODEL_FILE_SUFFIXES):
            return "hub", path
        if lowered.endswith(MODEL_FILE_SUFFIXES) or any(
                mark in path for mark in ("/", "\\", os.sep)) or path.startswith((".", "~")):
            raise DgenerateError(f"{what}: the file or folder {path!r} does not exist")
        raise DgenerateError(
            f"{what}: {path!r} does not exist: it is not a folder, a weights file, a URL or a "
            "Hugging Face repository id (owner/name)")

    @staticmethod
    def _folder_weights(source: AdapterSource) -> str:
        """The weights file of a folder adapter, relative to its subfolder."""
        folder = source.location
        if source.subfolder:
            folder = os.path.join(folder, source.subfolder)
            if not os.path.isdir(folder):
                raise DgenerateError(f"{source.what}: the folder {source.location!r} has no "
                                     f"subfolder {source.subfolder!r}")
        if source.weight_name:
            if not os.path.isfile(os.path.join(folder, source.weight_name)):
                raise DgenerateError(f"{source.what}: there is no file "
                                     f"{source.weight_name!r} in {folder!r}")
            return source.weight_name
        files = sorted(name for name in os.listdir(folder)
                       if name.lower().endswith(MODEL_FILE_SUFFIXES)
                       and os.path.isfile(os.path.join(folder, name)))
        if len(files) == 1:
            return files[0]
        if not files:
            raise DgenerateError(f"{source.what}: the folder {folder!r} holds no weights file "
                                 f"({', '.join(MODEL_FILE_SUFFIXES)})")
        raise DgenerateError(f"{source.what}: the folder {folder!r} holds several weights "
                             f"files ({', '.join(files)}): choose one with weight-name")

    def _encoder_given(self, values: Mapping[str, Any]) -> bool:
        return values.get("image_encoder") is not None

    # ------------------------------------------------------------- sub-model seam

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        sources = self.sources(values)
        if not sources or self._encoder_given(values):
            return
        if any(source.kind == "hub" for source in sources):
            return  # a repository's encoder is looked for when it loads
        if self._local_encoder(sources) is None:
            raise DgenerateError(self._no_encoder(sources))

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        # the image encoder found beside the adapters follows from where they are
        return (tuple(source.key() for source in self.sources(values)),
                self._encoder_given(values))

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        sources = self.sources(values)
        if not sources or self._encoder_given(values):
            return {}  # --image-encoder supplies it
        encoder = self._adapter_encoder(sources, target)
        return {"image_encoder": load_image_encoder(encoder, self.context, target)}

    def attach(self, pipeline: Any, values: Mapping[str, Any], target: LoadTarget) -> None:
        sources = self.sources(values)
        if not sources:
            return
        if not hasattr(pipeline, "load_ip_adapter"):
            raise DgenerateError(
                f"--ip-adapters does not work with --model-type {target.model_type}: its "
                f"pipeline {type(pipeline).__name__} cannot load IP adapters")
        encoder = getattr(pipeline, "image_encoder", None)
        if encoder is None:  # a pipeline that dropped the component it was given
            raise DgenerateError(self._no_encoder(sources))
        states = [read_ip_adapter(self._weights_file(source, target), source.what)
                  for source in sources]
        for source, state in zip(sources, states, strict=True):
            self._check_encoder_fits(source, state, encoder)
        denoiser = _denoiser(pipeline)
        if denoiser in target.shared:  # a cached one: its attention layers change in place
            setattr(pipeline, denoiser, copy.deepcopy(getattr(pipeline, denoiser)))
            self.context.debug(f"--ip-adapters: loading into a copy of the shared {denoiser}")
        self._feature_extractor(pipeline, encoder)
        try:
            with _library_messages_hidden(self.context.verbose):
                pipeline.load_ip_adapter(states, subfolder=[None] * len(states),
                                         weight_name=[None] * len(states),
                                         image_encoder_folder=None)
        except DgenerateError:
            raise
        except Exception as error:
            raise DgenerateError(self._describe(sources, error, target, denoiser)) from error
        pipeline.set_ip_adapter_scale([source.scale for source in sources])
        self.context.debug(f"loaded {len(sources)} IP adapter(s) into the "
                           f"{_DENOISER_NAMES[denoiser]}")

    def call_arguments(self, job: Any, pipeline: Any,
                       values: Mapping[str, Any]) -> dict[str, Any]:
        sources = self.sources(values)
        if not sources:
            return {}
        groups = [list(group) for group in job.adapter_images]
        if len(groups) != len(sources) or not all(groups):
            raise DgenerateError(
                f"--ip-adapters: {len(sources)} IP adapter(s) need as many groups of images "
                f"from --image-seeds (adapter: ...), and job {job.number} has {len(groups)}")
        import inspect

        if not hasattr(pipeline, "set_ip_adapter_scale") or "ip_adapter_image" not in (
                inspect.signature(type(pipeline).__call__).parameters):
            # a pipeline variant built from the base for another kind of sub-model
            raise DgenerateError(
                f"--ip-adapters cannot be combined with the other options of job "
                f"{job.number}: they need diffusers' {type(pipeline).__name__}, which takes "
                "no IP adapter images")
        # the scales are not part of the cached pipeline: every call sets its own
        pipeline.set_ip_adapter_scale([source.scale for source in sources])
        return {"ip_adapter_image": groups}

    # ------------------------------------------------------------ image encoder

    def _local_encoder(self, sources: list[AdapterSource]) -> EncoderSource | None:
        for source in sources:
            for location, _ in source.encoder_places():
                if os.path.isfile(os.path.join(location, "config.json")):
                    return EncoderSource(source.what, "folder",
                                         location)
        return None

    @staticmethod
    def _no_encoder(sources: list[AdapterSource]) -> str:
        which = "it has none" if len(sources) == 1 else "none of them has one"
        return (f"--ip-adapters: the IP adapter images need an image encoder, and {which} "
                f"beside its weights (a folder {ENCODER_FOLDER!r} with a config.json): "
                "give one with --image-encoder")

    def _adapter_encoder(self, sources: list[AdapterSource],
                         target: LoadTarget) -> EncoderSource:
        """The first image encoder found beside an adapter's weights."""
        not_cached: list[str] = []
        for source in sources:
            if source.kind != "hub":
                found = self._local_encoder([source])
                if found is not None:
                    return found
                continue
            for location, subfolder in source.encoder_places():
                state = self._hub_has_config(location, subfolder, source.revision, target)
                if state == "yes":
                    return EncoderSource(source.what, "hub",
                                         location, subfolder=subfolder,
                                         revision=source.revision)
                if state == "not cached":
                    not_cached.append(f"{location}/{subfolder}")
        message = self._no_encoder(sources)
        if not_cached:
            how = ("offline mode forbids downloading" if target.offline else
                   "it could not be downloaded from")
            message += (f" (the local Hugging Face cache lacks {', '.join(not_cached)} and "
                        f"{how} the hub)")
        raise DgenerateError(message)

    @staticmethod
    def _hub_has_config(repo: str, subfolder: str | None, revision: str,
                        target: LoadTarget) -> str:
        """``yes``, ``no`` or ``not cached``: whether the repository holds an encoder's
        config.json in ``subfolder``."""
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

        try:
            with hub_offline(target.offline):
                hf_hub_download(repo, "config.json", subfolder=subfolder, revision=revision,
                                token=target.token, local_files_only=target.offline)
        except LocalEntryNotFoundError:
            return "not cached"
        except EntryNotFoundError:
            return "no"
        except Exception:
            return "not cached"
        return "yes"

    @staticmethod
    def _check_encoder_fits(source: AdapterSource, state: Mapping[str, Any],
                            encoder: Any) -> None:
        wants = _embedding_width(state["image_proj"])
        if wants is None:
            return
        kind, width = wants
        _, embedding = encoder_size(encoder)
        has = embedding if kind == "embeds" else int(encoder.config.hidden_size)
        if has != width:
            what = "image embeddings" if kind == "embeds" else "hidden states"
            raise DgenerateError(
                f"{source.what}: the adapter takes {what} of {width} values and the image "
                f"encoder gives {has}: it was made for another image encoder (give the "
                "matching one with --image-encoder)")

    @staticmethod
    def _feature_extractor(pipeline: Any, encoder: Any) -> None:
        """The image processor that prepares adapter images for the encoder: the model's
        own when it fits the encoder's image size, else one made for it (the model's own
        stays when it serves a safety checker)."""
        if "feature_extractor" not in getattr(pipeline, "components", {}):
            return
        from transformers import CLIPImageProcessor

        side, _ = encoder_size(encoder)
        current = getattr(pipeline, "feature_extractor", None)
        if current is not None and (_crop_side(current) in (None, side) or getattr(
                pipeline, "safety_checker", None) is not None):
            return
        pipeline.register_modules(feature_extractor=CLIPImageProcessor(size=side,
                                                                       crop_size=side))

    # ------------------------------------------------------------------ loading

    def _weights_file(self, source: AdapterSource, target: LoadTarget) -> str:
        """The adapter's weights file on disk (downloaded when it is a URL or on the hub)."""
        if source.kind == "file":
            return source.location
        if source.kind == "folder":
            return os.path.join(source.location, *filter(None, (source.subfolder,)),
                                source.weight_name or "")
        if source.kind == "url":
            try:
                local = self.context.fetch(source.location)
            except DgenerateError as error:
                raise DgenerateError(f"{source.what}: {error}") from error
            if not local.lower().endswith(MODEL_FILE_SUFFIXES):
                raise DgenerateError(
                    f"{source.what}: the URL downloaded {os.path.basename(local)!r}, which is "
                    f"not a weights file ({', '.join(MODEL_FILE_SUFFIXES)})")
            return local
        return self._download(source, target)

    @staticmethod
    def _download(source: AdapterSource, target: LoadTarget) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        at = f" at revision {source.revision!r}" if source.revision != "main" else ""
        where = f"the Hugging Face repository {source.location!r}{at}"
        file = "/".join(filter(None, (source.subfolder, source.weight_name)))
        try:
            with hub_offline(target.offline):
                return hf_hub_download(source.location, source.weight_name or "",
                                       subfolder=source.subfolder, revision=source.revision,
                                       token=target.token, local_files_only=target.offline)
        except Exception as error:
            causes = list(error_chain(error))

            def caused(kind: type) -> bool:
                return any(isinstance(cause, kind) for cause in causes)

            if caused(RepositoryNotFoundError):
                message = f"{where} does not exist (or is private: give a token)"
            elif caused(RevisionNotFoundError):
                message = f"{where} has no revision {source.revision!r}"
            elif caused(LocalEntryNotFoundError):
                how = ("offline mode forbids downloading it" if target.offline else
                       "it could not be downloaded (no connection, HF_HUB_OFFLINE=1, or a "
                       "wrong name or revision)")
                message = f"{file!r} of {where} is not in the local Hugging Face cache and {how}"
            elif caused(EntryNotFoundError):
                message = f"{where} has no {file!r}"
            else:
                message = (f"cannot download {file!r} from {where}: {type(error).__name__}: "
                           f"{first_paragraph(error)}")
            raise DgenerateError(f"{source.what}: {message}") from error

    @staticmethod
    def _describe(sources: list[AdapterSource], error: Exception, target: LoadTarget,
                  denoiser: str) -> str:
        text = first_paragraph(error)
        which = sources[0].what if len(sources) == 1 else "--ip-adapters"
        unfit = (f"{which}: the adapter's weights do not fit the {_DENOISER_NAMES[denoiser]} "
                 "of the model "
                 f"(--model-type {target.model_type}); it is probably an IP adapter for "
                 "another kind of model")
        if isinstance(error, KeyError) and "_ip." in text:  # a layer the file lacks
            return f"{unfit} (it has no weights for the layer {text.strip(chr(39))})"
        mismatch = _SIZE_MISMATCH.search(text)
        if mismatch:
            layer, theirs, ours = mismatch.groups()
            return (f"{unfit} (the layer {layer} is {_shape(theirs)} in the file but "
                    f"{_shape(ours)} in the model)")
        if isinstance(error, (RuntimeError, ValueError)) and "shape" in text:
            return f"{unfit} ({text})"
        return f"{which}: cannot load the IP adapter(s): {type(error).__name__}: {text}"


#: the pipeline component an IP adapter loads into, by its name in messages
_DENOISER_NAMES = {"unet": "UNet", "transformer": "transformer"}


def _denoiser(pipeline: Any) -> str:
    """``unet`` or ``transformer``: the component of ``pipeline`` the adapter changes."""
    return "transformer" if getattr(pipeline, "transformer", None) is not None else "unet"


_SIZE_MISMATCH = re.compile(r"size mismatch for (\S+): copying a param with shape (.+?) from "
                            r"checkpoint, the shape in current model is (.+?)\.(?:\s|$)")


def _shape(text: str) -> str:
    numbers = re.findall(r"\d+", text)
    return "x".join(numbers) if numbers else text


def _crop_side(processor: Any) -> int | None:
    crop = getattr(processor, "crop_size", None)
    if isinstance(crop, Mapping):
        return crop.get("height")
    height = getattr(crop, "height", None)
    if height is not None:
        return int(height)
    return int(crop) if isinstance(crop, int) else None


@contextlib.contextmanager
def _library_messages_hidden(verbose: bool) -> Iterator[None]:
    """diffusers warns that casting the UNet keeps no module in float32 while the adapter
    loads; -v shows it."""
    if verbose:
        yield
        return
    import diffusers.utils.logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        diffusers_logging.set_verbosity(level)
