"""``--textual-inversions``: embedding files found, read, checked and loaded into the text
encoders of a pipeline.

An embedding file holds one of:

* Stable Diffusion, A1111 ``.pt``: ``{"string_to_param": {"*": vectors}, "name": token, ...}``;
* Stable Diffusion, A1111 ``.safetensors``: ``{"emb_params": vectors}`` (no token stored);
* Stable Diffusion, diffusers: ``{token: vectors}``;
* Stable Diffusion XL: ``{"clip_l": vectors, "clip_g": vectors}``, one set per text encoder
  (no token stored);
* Flux: ``{"clip_l": vectors}`` or ``{"clip_l": vectors, "t5": vectors}`` (no token stored):
  the CLIP vectors go to the CLIP text encoder, the T5 ones, when there are some, to the T5
  encoder. A Stable Diffusion 1.x embedding (one set of vectors) also fits Flux's CLIP
  encoder when its vectors are as wide.

``vectors`` is one embedding vector or a matrix of several (a multi-vector embedding: the
token stands for that many prompt positions). The token written in the prompt is the
``token`` argument if given, else the one stored in the file, else the file name without
its extension, spaces made underscores (always so for Stable Diffusion XL and Flux).

A pipeline class with diffusers' textual inversion loader writes the extra tokens of a
multi-vector embedding into the prompts itself; for one without it (the Flux img2img,
inpaint and ControlNet pipelines) the prompt is expanded here before the call.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import re
from collections.abc import Hashable, Mapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, SubModel
from dgenerate.plugin_api.args import ArgSpec
from dgenerate.plugin_api.diffusion import MODEL_FILE_SUFFIXES
from dgenerate.plugin_api.diffusion.loading import hub_offline
from dgenerate.plugin_api.interfaces.sub_model import LoadTarget

__all__ = ["ARGUMENTS", "Embedding", "TextualInversions", "read_embedding"]

FLAG = "--textual-inversions"

ARGUMENTS = (
    ArgSpec(name="token", type=str | None, default=None,
            help="the prompt word that calls the embedding"),
    ArgSpec(name="revision", type=str | None, default=None,
            help="the branch, tag or commit of a Hugging Face repository (default main)"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the folder of the file inside the repository or folder"),
    ArgSpec(name="weight_name", type=str | None, default=None,
            help="the file inside the repository or folder"),
)
#: the arguments a single file (or URL) takes
_FILE_ARGUMENTS = ("token",)
#: the files diffusers' training scripts write, looked for when weight-name is not given
_DIFFUSERS_NAMES = ("learned_embeds.safetensors", "learned_embeds.bin")
_BLOB_LINK = re.compile(
    r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[^/]+/[^/]+)/blob/"
    r"(?P<revision>[^/]+)/(?P<file>[^?#]+)")
_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# ------------------------------------------------------------------ the URIs


@dataclasses.dataclass(frozen=True)
class Request:
    """One ``--textual-inversions`` URI, parsed: ``kind`` is ``file``, ``url``, ``folder`` or
    ``hub`` (a Hugging Face repository id)."""

    uri: str
    path: str
    kind: str
    token: str | None = None
    revision: str | None = None
    subfolder: str | None = None
    weight_name: str | None = None


def _blob_advice(match: re.Match[str]) -> str:
    import urllib.parse

    repo, revision, file = (urllib.parse.unquote(match.group(name))
                            for name in ("repo", "revision", "file"))
    folder, name = os.path.split(file)
    advice = f"{repo};weight-name={name}"
    if folder:
        advice += f";subfolder={folder}"
    if revision != "main":
        advice += f";revision={revision}"
    return advice


def parse_request(uri: str, context: Any) -> Request:
    """Split ``uri`` and say where it points, refusing what cannot work (unknown arguments,
    blob links, arguments a single file cannot take, paths that do not exist)."""
    path, arguments = context.parse_uri(uri, ARGUMENTS, owner=f"{FLAG} {uri!r}")
    for name in ("token", "subfolder", "weight_name"):
        if arguments.get(name) is not None and not arguments[name].strip():
            raise DgenerateError(f"{FLAG} {uri!r}: the argument {name.replace('_', '-')!r} "
                                 "is empty")
    blob = _BLOB_LINK.match(path)
    if blob:
        raise DgenerateError(
            f"{FLAG} {uri!r}: Hugging Face blob links are not accepted; give the repository "
            f"and the file instead: \"{_blob_advice(blob)}\"")
    expanded = os.path.expanduser(path)
    if path.lower().startswith(("http://", "https://")):
        kind = "url"
    elif os.path.isfile(expanded):
        kind = "file"
        if not expanded.lower().endswith(MODEL_FILE_SUFFIXES):
            raise DgenerateError(
                f"{FLAG} {uri!r}: {path!r} is not an embedding file "
                f"({', '.join(MODEL_FILE_SUFFIXES)})")
    elif os.path.isdir(expanded):
        kind = "folder"
    elif _SLUG.match(path) and not path.lower().endswith(MODEL_FILE_SUFFIXES):
        kind = "hub"
    else:
        raise DgenerateError(
            f"{FLAG} {uri!r}: {path!r} does not exist: it is not an embedding file, a folder, "
            "a URL or a Hugging Face repository id (owner/name)")
    if kind in ("file", "url"):
        extra = [name.replace("_", "-") for name in arguments if name not in _FILE_ARGUMENTS]
        if extra:
            what = "a URL of a single file" if kind == "url" else "a single file"
            raise DgenerateError(
                f"{FLAG} {uri!r}: {path!r} is {what}, which takes only the token argument; "
                f"{', '.join(map(repr, extra))} {'apply' if len(extra) > 1 else 'applies'} to a "
                "Hugging Face repository or a folder")
    if kind == "folder" and arguments.get("revision") is not None:
        raise DgenerateError(
            f"{FLAG} {uri!r}: the argument 'revision' applies to Hugging Face repositories; "
            f"{path!r} is a folder on disk")
    local = expanded if kind in ("file", "folder") else path
    return Request(uri=uri, path=local, kind=kind, **arguments)


def _folder_file(request: Request) -> str:
    """The embedding file a folder request names (or the only one it has)."""
    base = os.path.join(request.path, request.subfolder or "")
    if not os.path.isdir(base):
        raise DgenerateError(f"{FLAG} {request.uri!r}: the folder {request.path!r} has no "
                             f"subfolder {request.subfolder!r}")
    if request.weight_name is not None:
        file = os.path.join(base, request.weight_name)
        if not os.path.isfile(file):
            raise DgenerateError(f"{FLAG} {request.uri!r}: {base!r} has no file "
                                 f"{request.weight_name!r}")
        return file
    for name in _DIFFUSERS_NAMES:
        if os.path.isfile(os.path.join(base, name)):
            return os.path.join(base, name)
    found = sorted(name for name in os.listdir(base)
                   if name.lower().endswith(MODEL_FILE_SUFFIXES)
                   and os.path.isfile(os.path.join(base, name)))
    if len(found) == 1:
        return os.path.join(base, found[0])
    listing = f"; it holds {', '.join(map(repr, found))}" if found else (
        "; it holds no embedding file")
    raise DgenerateError(f"{FLAG} {request.uri!r}: say which file of {base!r} to load with "
                         f"weight-name=NAME{listing}")


def _hub_file(request: Request, target: LoadTarget) -> str:
    """Download (or find in the Hugging Face cache) the file a repository request names."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    revision = request.revision or "main"
    at = f" at revision {revision!r}" if revision != "main" else ""
    where = f"the Hugging Face repository {request.path!r}{at}"
    names = (request.weight_name,) if request.weight_name else _DIFFUSERS_NAMES
    missing: list[str] = []
    last: Exception | None = None
    for name in names:
        try:
            with hub_offline(target.offline):
                return hf_hub_download(request.path, name, subfolder=request.subfolder,
                                       revision=revision, token=target.token,
                                       local_files_only=target.offline)
        except (EntryNotFoundError, LocalEntryNotFoundError) as error:
            missing.append(name)
            last = error
        except (RepositoryNotFoundError, RevisionNotFoundError) as error:
            raise DgenerateError(f"{FLAG} {request.uri!r}: cannot find {where}: "
                                 f"{_first_line(error)}") from None
        except (HfHubHTTPError, OSError, ValueError) as error:
            raise DgenerateError(f"{FLAG} {request.uri!r}: cannot download from {where}: "
                                 f"{_first_line(error)}") from None
    inside = f" (subfolder {request.subfolder!r})" if request.subfolder else ""
    files = " or ".join(map(repr, missing))
    if isinstance(last, LocalEntryNotFoundError):
        reason = ("offline mode forbids downloading it" if target.offline
                  else "it could not be downloaded")
        message = f"{files} of {where}{inside} is not in the Hugging Face cache and {reason}"
    else:
        message = f"{where}{inside} has no file {files}"
    if not request.weight_name:
        message += "; name the embedding file with weight-name=NAME"
    raise DgenerateError(f"{FLAG} {request.uri!r}: {message}")


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split("\n\n")[0].split()) or type(error).__name__


# ----------------------------------------------------------------- the files


@dataclasses.dataclass(frozen=True)
class Embedding:
    """What an embedding file holds: its vectors (``single``; ``clip_l`` and ``clip_g`` for
    Stable Diffusion XL; ``clip_l`` and maybe ``t5`` for Flux), each ``[count, size]``, and
    the token stored with them."""

    vectors: Mapping[str, Any]
    stored_token: str | None
    file_name: str

    @property
    def kind(self) -> str:
        """``sd`` (one set of vectors), ``sdxl`` or ``flux``: the models it was made for."""
        if "clip_g" in self.vectors:
            return "sdxl"
        return "flux" if "clip_l" in self.vectors else "sd"

    @property
    def dual(self) -> bool:
        return self.kind == "sdxl"

    @property
    def default_token(self) -> str:
        """The file name without its extension, spaces made underscores."""
        return os.path.splitext(self.file_name)[0].replace(" ", "_")


def _is_safetensors(path: str) -> bool:
    """A safetensors file starts with the little-endian length of its JSON header."""
    with open(path, "rb") as file:
        head = file.read(9)
    return (len(head) == 9 and head[8:9] == b"{"
            and int.from_bytes(head[:8], "little") < os.path.getsize(path))


def _not_embedding(what: str, detail: str) -> DgenerateError:
    return DgenerateError(
        f"{FLAG} {what}: the file is not a textual inversion embedding ({detail}); an "
        "embedding holds one tensor ({token: vectors} or A1111's emb_params), A1111's "
        "string_to_param, clip_l and clip_g (Stable Diffusion XL), or clip_l and t5 (Flux)")


def _load_safetensors(path: str, what: str) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as file:
            keys = list(file.keys())
            # look before loading: a whole model given by mistake is refused unread
            if not ({"clip_l", "clip_g"} <= set(keys) or len(keys) == 1
                    or set(keys) == {"clip_l", "t5"}):
                raise _not_embedding(what, _describe_keys(keys))
            return {key: file.get_tensor(key) for key in keys}
    except SafetensorError as error:
        raise DgenerateError(f"{FLAG} {what}: the safetensors file cannot be read: "
                             f"{_first_line(error)}") from None


def _load_pickle(path: str, what: str) -> Any:
    import torch

    try:
        # weights_only: tensors, numbers and strings only; no code runs while loading
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Weights only" in str(error):
            raise DgenerateError(
                f"{FLAG} {what}: the file holds Python objects besides tensors, which are not "
                "loaded (they could run code); an embedding holds tensors, names and numbers "
                "only") from None
        raise DgenerateError(f"{FLAG} {what}: the file is not a PyTorch or safetensors "
                             f"file: {_first_line(error)}") from None
    except Exception as error:  # torch reports a damaged file in many ways
        raise DgenerateError(f"{FLAG} {what}: the file is not a PyTorch or safetensors "
                             f"file: {_first_line(error)}") from None


def _describe_keys(keys: list[str]) -> str:
    if not keys:
        return "it is empty"
    shown = ", ".join(map(repr, keys[:3])) + (", ..." if len(keys) > 3 else "")
    return f"it holds {len(keys)} entries: {shown}"


def _vectors(value: Any, what: str, key: str) -> Any:
    """``value`` as a float ``[count, size]`` matrix, or a refusal."""
    import torch

    if isinstance(value, torch.nn.Parameter):
        value = value.detach()
    if not isinstance(value, torch.Tensor):
        raise _not_embedding(what, f"{key!r} is a {type(value).__name__}, not a tensor")
    if not value.is_floating_point() or value.ndim not in (1, 2) or value.numel() == 0:
        raise _not_embedding(what, f"{key!r} is a {value.dtype} tensor of shape "
                                   f"{list(value.shape)}, not one or more vectors")
    return value.reshape(1, -1) if value.ndim == 1 else value


def read_embedding(path: str, what: str, file_name: str | None = None) -> Embedding:
    """Read and check the embedding file at ``path`` (``what`` names it in errors)."""
    import torch

    name = file_name or os.path.basename(path)
    content = _load_safetensors(path, what) if _is_safetensors(path) else _load_pickle(
        path, what)
    if isinstance(content, torch.Tensor):
        return Embedding({"single": _vectors(content, what, "tensor")}, None, name)
    if not isinstance(content, Mapping):
        raise _not_embedding(what, f"it holds a {type(content).__name__}")
    keys = [str(key) for key in content]
    if "clip_l" in content and "clip_g" in content:
        return Embedding({key: _vectors(content[key], what, key) for key in ("clip_l", "clip_g")},
                         None, name)
    if "clip_l" in content and set(keys) <= {"clip_l", "t5"}:  # Flux
        return Embedding({key: _vectors(content[key], what, key) for key in keys}, None, name)
    if "string_to_param" in content:  # A1111 / stable-diffusion-webui
        parameters = content["string_to_param"]
        if not isinstance(parameters, Mapping) or not parameters:
            raise _not_embedding(what, "its string_to_param is empty")
        vectors = parameters["*"] if "*" in parameters else next(iter(parameters.values()))
        stored = content.get("name")
        stored = stored.strip() if isinstance(stored, str) and stored.strip() else None
        return Embedding({"single": _vectors(vectors, what, "string_to_param")}, stored, name)
    if len(content) == 1:
        (key, vectors), = content.items()
        stored = None if key == "emb_params" else str(key)  # A1111 safetensors store no name
        return Embedding({"single": _vectors(vectors, what, str(key))}, stored, name)
    raise _not_embedding(what, _describe_keys(keys))


# ---------------------------------------------------------- the text encoders


def _shallow(module: Any) -> Any:
    """A copy of ``module`` sharing its parameters, buffers and children, whose own
    containers can change without changing the original."""
    clone = copy.copy(module)
    clone._modules = type(module._modules)(module._modules)
    clone._parameters = type(module._parameters)(module._parameters)
    clone._buffers = type(module._buffers)(module._buffers)
    clone._non_persistent_buffers_set = set(module._non_persistent_buffers_set)
    # an offloading hook (accelerate) wraps forward around the original module: the copy
    # runs its own forward, and gets its own hook when its pipeline is placed
    for name in ("forward", "_old_forward", "_hf_hook"):
        clone.__dict__.pop(name, None)
    return clone


def own_text_encoder(encoder: Any) -> Any:
    """A copy of ``encoder`` sharing every weight, whose token embeddings can grow alone.

    Loading an embedding grows the token embeddings (transformers does it in place). A
    text encoder may be shared with other cached pipelines (given by a text encoder
    sub-model, kept in its cache): the copy grows instead, so they keep their vocabulary.
    Only the modules on the way to the embeddings are copied; no weights are. T5 holds
    its token embeddings twice (``shared`` and ``encoder.embed_tokens``, one module or two
    tied to one weight) and resizing sets both: every module holding them is copied.
    """
    import torch

    embeddings = encoder.get_input_embeddings()
    weight = embeddings.weight
    paths = [name for name, module in encoder.named_modules(remove_duplicate=False)
             if module is embeddings or module._parameters.get("weight") is weight]
    root = _shallow(encoder)
    root.config = copy.deepcopy(encoder.config)  # its vocab_size changes
    if root.__dict__.get("text_model") is encoder:  # see diffusion.compat.patch_text_encoders
        root.__dict__["text_model"] = root
    copies = {id(encoder): root}  # an original module's id -> its copy
    for path in paths:
        parent = root
        for part in path.split("."):
            child = parent._modules[part]
            if child is not copies.get(id(child)):  # not yet a copy
                copies.setdefault(id(child), _shallow(child))
                parent._modules[part] = copies[id(child)]
            parent = parent._modules[part]
    # transformers resizes the embeddings in place (``weight.data = ...``): the copies get
    # parameter objects of their own (one, where the original was tied), over the same
    # tensors
    own: dict[int, Any] = {}
    for path in paths:
        module = root.get_submodule(path)
        for name, parameter in list(module._parameters.items()):
            if parameter is not None:
                if id(parameter) not in own:
                    own[id(parameter)] = torch.nn.Parameter(
                        parameter.data, requires_grad=parameter.requires_grad)
                module._parameters[name] = own[id(parameter)]
    return root


def _is_t5(encoder: Any) -> bool:
    return getattr(getattr(encoder, "config", None), "model_type", None) in ("t5", "umt5")


def _encoder_slots(pipeline: Any) -> tuple[str, list[tuple[str, str, str]]]:
    """The kind of embedding the pipeline takes (``sd``, ``sdxl`` or ``flux``) and the
    (vectors key, tokenizer attribute, text encoder attribute) of its text encoders that
    take embeddings: one for Stable Diffusion, two for Stable Diffusion XL; for Flux the
    CLIP encoder, then the T5 one (given the file's ``t5`` vectors only)."""
    second = getattr(pipeline, "text_encoder_2", None)
    if _is_t5(second):
        kind, slots = "flux", [("clip_l", "tokenizer", "text_encoder"),
                               ("t5", "tokenizer_2", "text_encoder_2")]
    elif second is not None or getattr(pipeline, "tokenizer_2", None) is not None:
        kind, slots = "sdxl", [("clip_l", "tokenizer", "text_encoder"),
                               ("clip_g", "tokenizer_2", "text_encoder_2")]
    else:
        kind, slots = "sd", [("single", "tokenizer", "text_encoder")]
    return kind, [slot for slot in slots if getattr(pipeline, slot[1], None) is not None
                  and getattr(pipeline, slot[2], None) is not None]


#: what each kind of embedding is, in messages
_KIND_NAMES = {"sd": "a Stable Diffusion 1.x/2.x embedding (one set of vectors)",
               "sdxl": "a Stable Diffusion XL embedding (clip_l and clip_g)",
               "flux": "a Flux embedding (clip_l, and maybe t5)"}
#: what a model of each kind needs, in messages
_KIND_NEEDS = {"sd": "has one text encoder and needs one set of vectors",
               "sdxl": "has two text encoders and needs clip_l and clip_g vectors (a Stable "
                       "Diffusion XL embedding)",
               "flux": "takes clip_l vectors, and maybe t5 ones (a Flux embedding), or one "
                       "set of vectors for its CLIP text encoder"}


def _token_names(token: str, count: int) -> list[str]:
    """The tokens diffusers adds for an embedding of ``count`` vectors."""
    return [token] + [f"{token}_{index}" for index in range(1, count)]


# -------------------------------------------------------------------- the kind


class TextualInversions(SubModel):
    """Textual inversions (embeddings): new prompt words for the text encoders.

    ``--textual-inversions URI [URI ...]`` loads each embedding into the tokenizer and
    text encoder of the model (both of them for Stable Diffusion XL); a prompt that
    contains the token then uses the learned vectors. Every URI is part of the loaded
    pipeline's identity: another set of embeddings loads a fresh copy of the model.
    """

    def uris(self, values: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(values.get("textual_inversion_uris") or ())

    def requests(self, values: Mapping[str, Any]) -> list[Request]:
        return [parse_request(uri, self.context) for uri in self.uris(values)]

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        tokens: dict[str, str] = {}
        for request in self.requests(values):
            if request.kind == "folder":
                _folder_file(request)
            if request.token is not None:
                if request.token in tokens:
                    raise DgenerateError(
                        f"{FLAG}: {tokens[request.token]!r} and {request.uri!r} both use the "
                        f"token {request.token!r}; give each embedding its own token")
                tokens[request.token] = request.uri

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        return self.uris(values)

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        # refused before the model loads
        if not hasattr(target.pipeline_class, "load_textual_inversion"):
            raise DgenerateError(
                f"{FLAG}: the {target.pipeline_class.__name__} pipeline of --model-type "
                f"{target.model_type} cannot load textual inversions")
        return {}

    # ------------------------------------------------------------------ loading

    def local_file(self, request: Request, target: LoadTarget) -> str:
        if request.kind == "file":
            return request.path
        if request.kind == "folder":
            return _folder_file(request)
        if request.kind == "url":
            return self.context.fetch(request.path)
        return _hub_file(request, target)

    def embedding(self, request: Request, target: LoadTarget) -> Embedding:
        """The embedding a request names, read once per file (the ``textual_inversion``
        cache)."""
        path = self.local_file(request, target)
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)

        def read() -> Embedding:
            self.context.debug(f"{FLAG}: reading {path!r} for {request.uri!r}")
            return read_embedding(path, repr(request.uri))

        return self.context.cache(self.slot or "textual_inversion").get_or_create(
            key, read, size=stat.st_size)

    def attach(self, pipeline: Any, values: Mapping[str, Any], target: LoadTarget) -> None:
        kind, slots = _encoder_slots(pipeline)
        if not slots or not hasattr(pipeline, "load_textual_inversion"):
            raise DgenerateError(f"{FLAG}: the {type(pipeline).__name__} pipeline of "
                                 f"--model-type {target.model_type} cannot load textual "
                                 "inversions")
        owned: set[str] = set()
        given: dict[str, str] = {}  # token -> URI, for clear clashes
        for request in self.requests(values):
            embedding = self.embedding(request, target)
            if embedding.kind != kind and not (kind == "flux" and embedding.kind == "sd"):
                raise DgenerateError(
                    f"{FLAG} {request.uri!r}: the file holds {_KIND_NAMES[embedding.kind]}, "
                    f"but --model-type {target.model_type} {_KIND_NEEDS[kind]}")
            if request.token is not None:
                token = request.token
            elif kind != "sd" or embedding.stored_token is None:
                token = embedding.default_token
            else:
                token = embedding.stored_token
            if token in given:
                raise DgenerateError(
                    f"{FLAG}: {given[token]!r} and {request.uri!r} both use the token "
                    f"{token!r}; give one another with token=NAME")
            given[token] = request.uri
            for key, tokenizer_name, encoder_name in slots:
                vectors = embedding.vectors.get(key)
                if vectors is None and key == "clip_l":  # a one-set embedding on Flux's CLIP
                    vectors = embedding.vectors["single"]
                if vectors is None:  # a Flux embedding without t5 vectors
                    continue
                if encoder_name not in owned:
                    setattr(pipeline, encoder_name,
                            own_text_encoder(getattr(pipeline, encoder_name)))
                    owned.add(encoder_name)
                self._load(pipeline, request, token, vectors, tokenizer_name, encoder_name,
                           key)
            self.context.debug(f"{FLAG}: {request.uri!r} loaded as the token {token!r}")

    def call_arguments(self, job: Any, pipeline: Any,
                       values: Mapping[str, Any]) -> dict[str, Any]:
        """The prompts with the extra tokens of multi-vector embeddings written out, for a
        pipeline class that does not do it itself (it shares the tokenizers of the loaded
        pipeline, and so knows the tokens)."""
        from diffusers.loaders import TextualInversionLoaderMixin

        tokenizer = getattr(pipeline, "tokenizer", None)
        if isinstance(pipeline, TextualInversionLoaderMixin) or tokenizer is None:
            return {}
        arguments: dict[str, Any] = {}
        for name, text in (("prompt", job.prompt.positive),
                           ("negative_prompt", job.prompt.negative)):
            if text:
                expanded = TextualInversionLoaderMixin._maybe_convert_prompt(
                    pipeline, text, tokenizer)
                if expanded != text:
                    arguments[name] = [expanded] * job.batch_size
        return arguments

    def _load(self, pipeline: Any, request: Request, token: str, vectors: Any,
              tokenizer_name: str, encoder_name: str, key: str) -> None:
        tokenizer = getattr(pipeline, tokenizer_name)
        encoder = getattr(pipeline, encoder_name)
        size = encoder.get_input_embeddings().weight.shape[-1]
        which = "" if key == "single" else f" ({key}, for {encoder_name})"
        if vectors.shape[-1] != size:
            raise DgenerateError(
                f"{FLAG} {request.uri!r}: the embedding's vectors{which} have {vectors.shape[-1]} "
                f"values, but the text encoder of this model takes {size}: it was trained "
                "for another model")
        vocabulary = tokenizer.get_vocab()
        taken = [name for name in _token_names(token, vectors.shape[0]) if name in vocabulary]
        if taken:
            raise DgenerateError(
                f"{FLAG} {request.uri!r}: the token {taken[0]!r} is already a word of the "
                f"model's tokenizer; give the embedding another with token=NAME")
        try:
            # grown here with plain initial rows (they are overwritten at once): diffusers'
            # own resize would sample them from the vocabulary's covariance, slowly and
            # with a notice on standard error; its resize to this size then does nothing
            encoder.resize_token_embeddings(len(tokenizer) + vectors.shape[0],
                                            mean_resizing=False)
            pipeline.load_textual_inversion(vectors, token=token, tokenizer=tokenizer,
                                            text_encoder=encoder)
        except (ValueError, RuntimeError) as error:
            raise DgenerateError(f"{FLAG} {request.uri!r}: cannot load the embedding"
                                 f"{which}: {_first_line(error)}") from error
