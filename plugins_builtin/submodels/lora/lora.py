"""LoRAs given with ``--loras``: loaded as adapters, fused into the pipeline, unloaded.

Every LoRA of a job is loaded into the pipeline as its own adapter, the adapters are
weighted by their ``scale`` arguments (``set_adapters``), fused into the UNet and text
encoder weights at ``--lora-fuse-scale`` (``fuse_lora``) and then unloaded, so the
pipeline left in the cache is a plain one whose weights carry the LoRAs. Its cache key
holds every LoRA and the fuse scale (:meth:`LoRA.load_key`).

diffusers reads the files (``load_lora_weights``), which understands its own / PEFT
layout and kohya's ``lora_unet_*`` / ``lora_te_*`` layout; it needs the ``peft`` package.
The files are given to diffusers by path rather than as state dicts, so that the adapter
settings a file may carry in its header (``lora_adapter_metadata``) are honoured.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import logging
import math
import os
import re
import urllib.parse
import warnings
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from dgenerate.plugin_api import ArgSpec, DgenerateError, LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.loading import error_chain, hub_offline
from dgenerate.plugin_api.diffusion.sources import MODEL_FILE_SUFFIXES

__all__ = ["LORA_ARGUMENTS", "LoRA", "LoraSource"]

#: the URI arguments of --loras
LORA_ARGUMENTS = (
    ArgSpec(name="scale", type=float, default=1.0,
            help="the LoRA's own strength, before --lora-fuse-scale"),
    ArgSpec(name="revision", type=str, default="main",
            help="the branch, tag or commit of a Hugging Face repository"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the folder of the weights inside the repository or folder"),
    ArgSpec(name="weight_name", type=str | None, default=None,
            help="the weights file to load from the repository or folder"),
)
#: what a file or URL can take: the rest say where to look inside a repository or folder
_SINGLE_FILE_ARGUMENTS = {"scale"}
#: the name diffusers saves LoRAs under, looked for first in a folder
_DEFAULT_WEIGHT_NAMES = ("pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin")

_HF_LINK = re.compile(
    r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[^/]+/[^/?#]+)/"
    r"(?:blob|resolve)/(?P<revision>[^/]+)/(?P<file>[^?#]+)", re.IGNORECASE)
_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclasses.dataclass(frozen=True)
class LoraSource:
    """One ``--loras`` URI, checked: where the weights are and how strongly to use them.

    ``kind`` is ``file`` (a weights file on disk), ``url`` (downloaded into the web
    cache), ``folder`` or ``hub`` (a Hugging Face repository id).
    """

    uri: str
    kind: str
    location: str
    scale: float
    revision: str = "main"
    subfolder: str | None = None
    weight_name: str | None = None

    def key(self) -> Hashable:
        """What the fused weights depend on; a file's size and time catch a rewritten file."""
        stamp: tuple[int, int] | None = None
        if self.kind == "file":
            with contextlib.suppress(OSError):  # gone since the check: loading will say so
                info = os.stat(self.location)
                stamp = (info.st_size, info.st_mtime_ns)
        return (self.kind, self.location, self.revision, self.subfolder, self.weight_name,
                stamp, self.scale)


def _blob_link_advice(match: re.Match[str]) -> str:
    """The ``--loras`` URI that loads what a Hugging Face file link points at."""
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


class LoRA(SubModel):
    """LoRA models (``--loras``) fused into the UNet and text encoders of a pipeline.

    Each URI is a Hugging Face repository, a folder, a weights file or an http(s) URL
    of one, with the arguments ``scale``, ``revision``, ``subfolder`` and ``weight-name``
    (a file or URL takes only ``scale``). Several LoRAs are combined at their own scales
    and fused into the model at ``--lora-fuse-scale``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sources: dict[str, LoraSource] = {}

    # ------------------------------------------------------------------ options

    def given(self, values: Mapping[str, Any]) -> bool:
        # --lora-fuse-scale has a default: only --loras says whether there is anything to do
        return bool(values.get("loras"))

    def sources(self, values: Mapping[str, Any]) -> list[LoraSource]:
        """The ``--loras`` URIs, parsed and checked (nothing is downloaded)."""
        return [self.source(uri) for uri in values.get("loras") or ()]

    def fuse_scale(self, values: Mapping[str, Any]) -> float:
        scale = values.get("lora_fuse_scale")
        return 1.0 if scale is None else float(scale)

    def source(self, uri: str) -> LoraSource:
        """One URI parsed and checked: clear errors before anything loads."""
        known = self._sources.get(uri)
        if known is None:
            known = self._sources[uri] = self._parse(uri)
        return known

    def _parse(self, uri: str) -> LoraSource:
        owner = f"--loras {uri!r}"
        path, arguments = self.context.parse_uri(uri, LORA_ARGUMENTS, owner=owner)
        scale = arguments.get("scale", 1.0)
        if not math.isfinite(scale):
            raise DgenerateError(f"{owner}: scale must be a finite number, not {scale!r}")
        link = _HF_LINK.match(path)
        if link:
            raise DgenerateError(
                f"{owner}: Hugging Face blob links are not accepted for LoRAs; give the "
                f"repository with subfolder and weight-name instead: "
                f"{_blob_link_advice(link)!r}")
        kind, location = self._locate(path, owner)
        if kind in ("file", "url"):
            extra = sorted(set(arguments) - _SINGLE_FILE_ARGUMENTS)
            if extra:
                what = "a single weights file" if kind == "file" else "a URL of a weights file"
                raise DgenerateError(
                    f"{owner}: {what} takes only the scale argument, not "
                    f"{', '.join(name.replace('_', '-') for name in extra)} (those say where "
                    "the weights are inside a Hugging Face repository or a folder)")
        source = LoraSource(uri=uri, kind=kind, location=location, scale=scale,
                            revision=arguments.get("revision", "main"),
                            subfolder=arguments.get("subfolder"),
                            weight_name=arguments.get("weight_name"))
        if kind == "folder":
            self._folder_weights(source)  # a missing file is found now, not after loading
        return source

    @staticmethod
    def _locate(path: str, owner: str) -> tuple[str, str]:
        if path.lower().startswith(("http://", "https://")):
            return "url", path
        expanded = os.path.expanduser(path)
        if os.path.isdir(expanded):
            return "folder", os.path.abspath(expanded)
        if os.path.isfile(expanded):
            if not expanded.lower().endswith(MODEL_FILE_SUFFIXES):
                raise DgenerateError(
                    f"{owner}: {path!r} is not a weights file ({', '.join(MODEL_FILE_SUFFIXES)})")
            return "file", os.path.abspath(expanded)
        if _SLUG.match(path) and not path.lower().endswith(MODEL_FILE_SUFFIXES):
            return "hub", path
        if path.lower().endswith(MODEL_FILE_SUFFIXES) or any(
                mark in path for mark in ("/", "\\", os.sep)) or path.startswith((".", "~")):
            raise DgenerateError(f"{owner}: the file or folder {path!r} does not exist")
        raise DgenerateError(
            f"{owner}: {path!r} does not exist: it is not a folder, a weights file, a URL or a "
            "Hugging Face repository id (owner/name)")

    @staticmethod
    def _folder_weights(source: LoraSource) -> tuple[str, str]:
        """The folder and file name of a folder LoRA's weights."""
        owner = f"--loras {source.uri!r}"
        folder = source.location
        if source.subfolder:
            folder = os.path.join(folder, source.subfolder)
            if not os.path.isdir(folder):
                raise DgenerateError(
                    f"{owner}: the folder {source.location!r} has no subfolder "
                    f"{source.subfolder!r}")
        if source.weight_name:
            if not os.path.isfile(os.path.join(folder, source.weight_name)):
                raise DgenerateError(f"{owner}: there is no file {source.weight_name!r} in "
                                     f"{folder!r}")
            return folder, source.weight_name
        files = sorted(name for name in os.listdir(folder)
                       if name.lower().endswith(MODEL_FILE_SUFFIXES)
                       and os.path.isfile(os.path.join(folder, name)))
        for name in _DEFAULT_WEIGHT_NAMES:
            if name in files:
                return folder, name
        if len(files) == 1:
            return folder, files[0]
        if not files:
            raise DgenerateError(f"{owner}: the folder {folder!r} holds no weights file "
                                 f"({', '.join(MODEL_FILE_SUFFIXES)})")
        raise DgenerateError(f"{owner}: the folder {folder!r} holds several weights files "
                             f"({', '.join(files)}): choose one with weight-name")

    # ------------------------------------------------------------- sub-model seam

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        if not self.given(values):
            return
        if importlib.util.find_spec("peft") is None:
            raise DgenerateError("--loras needs the Python package 'peft', which diffusers "
                                 "uses to load LoRAs: pip install peft")
        self.sources(values)

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        return (tuple(source.key() for source in self.sources(values)),
                self.fuse_scale(values))

    def attach(self, pipeline: Any, values: Mapping[str, Any], target: LoadTarget) -> None:
        sources = self.sources(values)
        if not sources:
            return
        if not hasattr(pipeline, "load_lora_weights"):
            raise DgenerateError(
                f"--loras does not work with --model-type {target.model_type}: its pipeline "
                f"{type(pipeline).__name__} cannot load LoRA weights")
        for component in sorted(target.shared):  # shared through a cache: fuse into a copy
            module = getattr(pipeline, component, None)
            if module is not None and hasattr(module, "state_dict"):
                setattr(pipeline, component, copy.deepcopy(module))
                self.context.debug(f"--loras: fusing into a copy of the shared {component}")
        names = []
        try:
            for index, source in enumerate(sources):
                name = f"dgenerate_lora_{index}"
                self._load(pipeline, source, name, target)
                names.append(name)
            fuse_scale = self.fuse_scale(values)
            pipeline.set_adapters(names, adapter_weights=[source.scale for source in sources])
            pipeline.fuse_lora(lora_scale=fuse_scale, adapter_names=names)
            # the fused weights stay in the model; the adapters' own layers go
            pipeline.unload_lora_weights()
        except DgenerateError:
            raise
        except Exception as error:
            raise DgenerateError(f"--loras: cannot fuse the LoRAs into the model: "
                                 f"{type(error).__name__}: {_paragraph(error)}") from error
        self.context.debug(f"fused {len(names)} LoRA(s) into the model at --lora-fuse-scale "
                           f"{fuse_scale}")

    # ------------------------------------------------------------------ loading

    def _where(self, source: LoraSource) -> tuple[str, dict[str, Any]]:
        """What to give ``load_lora_weights``: a folder or repository and its arguments."""
        if source.kind == "url":
            try:
                local = self.context.fetch(source.location)
            except DgenerateError as error:
                raise DgenerateError(f"--loras {source.uri!r}: {error}") from error
            if not local.lower().endswith(MODEL_FILE_SUFFIXES):
                raise DgenerateError(
                    f"--loras {source.uri!r}: the URL downloaded {os.path.basename(local)!r}, "
                    f"which is not a weights file ({', '.join(MODEL_FILE_SUFFIXES)})")
            return os.path.dirname(local), {"weight_name": os.path.basename(local)}
        if source.kind == "file":
            return os.path.dirname(source.location), {
                "weight_name": os.path.basename(source.location)}
        if source.kind == "folder":
            folder, name = self._folder_weights(source)
            return folder, {"weight_name": name}
        arguments: dict[str, Any] = {"revision": source.revision}
        if source.subfolder:
            arguments["subfolder"] = source.subfolder
        if source.weight_name:
            arguments["weight_name"] = source.weight_name
        return source.location, arguments

    def _load(self, pipeline: Any, source: LoraSource, name: str, target: LoadTarget) -> None:
        where, arguments = self._where(source)
        if source.kind == "hub":
            arguments["local_files_only"] = target.offline
            if target.token:
                arguments["token"] = target.token
        before = _adapter_components(pipeline)
        try:
            with hub_offline(target.offline), _library_errors_hidden(self.context.verbose):
                pipeline.load_lora_weights(where, adapter_name=name, **arguments)
        except Exception as error:
            raise DgenerateError(self._describe(source, error, target)) from error
        loaded = sorted(component for component, adapters in
                        _adapter_components(pipeline).items()
                        if name in adapters and name not in before.get(component, ()))
        if not loaded:
            raise DgenerateError(
                f"--loras {source.uri!r}: none of its weights fit the model (--model-type "
                f"{target.model_type}); it is probably a LoRA for another kind of model")
        self.context.debug(f"LoRA {source.uri!r} loaded into {', '.join(loaded)} at scale "
                           f"{source.scale}")

    @staticmethod
    def _describe(source: LoraSource, error: Exception, target: LoadTarget) -> str:
        owner = f"--loras {source.uri!r}"
        text = _paragraph(error)
        names = {type(cause).__name__ for cause in error_chain(error)}
        if source.kind == "hub":
            at = f" at revision {source.revision!r}" if source.revision != "main" else ""
            what = f"the Hugging Face repository {source.location!r}{at}"
            if "offline mode" in text and "weight_name" in text:
                return (f"{owner}: in offline mode the file of {what} must be named: give "
                        "weight-name")
            if "RepositoryNotFoundError" in names:
                return f"{owner}: {what} does not exist (or is private: give a token)"
            if "RevisionNotFoundError" in names:
                return (f"{owner}: the Hugging Face repository {source.location!r} has no "
                        f"revision {source.revision!r}")
            if "EntryNotFoundError" in names or "RemoteEntryNotFoundError" in names:
                file = source.weight_name or "its LoRA weights file"
                return f"{owner}: {what} has no {file!r}"
            if "LocalEntryNotFoundError" in names or isinstance(error, OSError):
                file = "/".join(filter(None, (source.subfolder, source.weight_name)))
                how = ("offline mode forbids downloading it" if target.offline else
                       "could not be downloaded (no connection, HF_HUB_OFFLINE=1, or a wrong "
                       "name or revision)")
                return (f"{owner}: {file or 'the LoRA weights'!r} of {what} is not in the "
                        f"local Hugging Face cache and {how}")
        if "Invalid LoRA checkpoint" in text:
            return (f"{owner}: the file is not a LoRA (its tensors are not named as LoRA "
                    "weights are: lora_A/lora_B, lora_down/lora_up)")
        mismatch = _SIZE_MISMATCH.search(text)
        if mismatch:
            layer, theirs, ours = mismatch.groups()
            layer = re.sub(r"\.dgenerate_lora_\d+", "", layer)
            return (f"{owner}: its weights do not fit the model (--model-type "
                    f"{target.model_type}); it is probably a LoRA for another kind of model "
                    f"(the layer {layer} is {_shape(theirs)} in the file but "
                    f"{_shape(ours)} in the model)")
        return f"{owner}: cannot load the LoRA: {type(error).__name__}: {text}"


_SIZE_MISMATCH = re.compile(r"size mismatch for (\S+): copying a param with shape (.+?) from "
                            r"checkpoint, the shape in current model is (.+?)\.(?:\s|$)")


def _shape(text: str) -> str:
    """``torch.Size([4, 64])`` -> ``4x64``."""
    numbers = re.findall(r"\d+", text)
    return "x".join(numbers) if numbers else text


@contextlib.contextmanager
def _library_errors_hidden(verbose: bool) -> Iterator[None]:
    """diffusers logs a failed adapter load as an error before raising it; the raised error
    becomes the one message dgenerate prints, so the log line is hidden (shown with -v).
    peft warns that a second adapter joins the first, which is what several LoRAs do."""
    if verbose:
        yield
        return
    import diffusers.utils.logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Already found a `peft_config`")
            yield
    finally:
        diffusers_logging.set_verbosity(level)


def _adapter_components(pipeline: Any) -> dict[str, list[str]]:
    try:
        return dict(pipeline.get_list_adapters())
    except Exception:
        return {}


def _paragraph(error: BaseException) -> str:
    """A library's message as one paragraph (up to its first blank line)."""
    text = str(error).strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in text.splitlines()).strip() or type(error).__name__
