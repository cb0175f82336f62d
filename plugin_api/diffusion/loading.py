"""Loading diffusers pipelines from a resolved model, with clear errors."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import DgenerateError
from .sources import ResolvedModel

__all__ = ["disk_size", "hub_offline", "load_pipeline", "safety_checker_arguments",
           "single_file_config_repository"]


def disk_size(model: ResolvedModel) -> int:
    """Bytes of weights on disk: an estimate of the memory the model will take."""
    if model.kind == "file":
        return os.path.getsize(model.location)
    if model.kind == "folder":
        total = 0
        for folder, _, files in os.walk(model.location):
            total += sum(os.path.getsize(os.path.join(folder, name)) for name in files
                         if name.endswith((".safetensors", ".bin", ".ckpt", ".pt", ".pth")))
        return total
    return 0


@contextlib.contextmanager
def hub_offline(offline: bool) -> Iterator[None]:
    """In offline mode, switch the Hugging Face libraries offline while the block runs.

    ``local_files_only`` is not enough: diffusers' ``from_single_file`` retries a config
    download that ``local_files_only`` refused with ``local_files_only=False``. The
    libraries read ``HF_HUB_OFFLINE`` when huggingface_hub is imported and consult
    ``huggingface_hub.constants.HF_HUB_OFFLINE`` on every request, so it is set there.
    """
    if not offline:
        yield
        return
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _variant_missing(error: Exception, variant: str | None) -> bool:
    return variant is not None and "variant" in str(error).lower()


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from (causes and contexts), once each."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__




def first_paragraph(text: str | BaseException) -> str:
    """A library's message as one paragraph: up to its first blank line, lines joined."""
    paragraph = str(text).strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines()).strip()


def where_text(located: ResolvedModel, revision: str | None = None) -> str:
    """``the Hugging Face repository 'x' at revision 'y'`` or ``the folder 'x'``."""
    if located.kind == "hub":
        at = f" at revision {revision!r}" if revision not in (None, "main") else ""
        return f"the Hugging Face repository {located.location!r}{at}"
    return f"the folder {located.location!r}"


def describe_component_failure(what: str, located: ResolvedModel, error: Exception, *,
                               revision: str | None, offline: bool, what_file: str,
                               missing_hint: str, component: str) -> str:
    """One paragraph for a sub-model (``what``: ``--vae '...'``) that failed to load from a
    folder or the hub: gated, missing, no such revision, not cached, a missing file
    (``missing_hint`` says where to look), or the library's own message."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = where_text(located, revision)
    causes = list(error_chain(error))

    def caused(kind: type) -> bool:
        return any(isinstance(cause, kind) for cause in causes)

    if caused(GatedRepoError):
        return (f"{what}: {where} is gated: accept its terms on huggingface.co and give "
                "a token with --auth-token or HF_TOKEN")
    if caused(RepositoryNotFoundError):
        return f"{what}: {where} does not exist (or is private: give a token)"
    if caused(RevisionNotFoundError):
        return f"{what}: {where} has no revision {revision!r}"
    if caused(LocalEntryNotFoundError) or "offline" in str(error).lower():
        reason = ("offline mode forbids downloading it" if offline else
                  "it could not be downloaded (no connection, HF_HUB_OFFLINE=1, or a wrong "
                  "name or revision)")
        return (f"{what}: {what_file} of {where} is not in the local Hugging Face cache "
                f"and {reason}")
    if caused(EntryNotFoundError):
        return f"{what}: {where} has no {what_file}{missing_hint}"
    return f"{what}: cannot load the {component} from {where}: {first_paragraph(error)}"


def _checkpoint_shapes(path: str) -> dict[str, Any]:
    """The keys of a checkpoint with empty (meta) tensors of their shapes: cheap to read."""
    import torch

    if path.lower().endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, "pt") as file:
            return {key: torch.empty(file.get_slice(key).get_shape(), device="meta")
                    for key in file.keys()}  # noqa: SIM118 (safe_open is not a mapping)
    checkpoint = torch.load(path, map_location="meta", weights_only=True)
    while isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    return checkpoint


def _config_repository(path: str) -> str | None:
    """The Hugging Face repository whose configs ``from_single_file`` takes for ``path``
    (the one of the model type it detects), or None when that cannot be told."""
    try:
        from diffusers.loaders.single_file_utils import fetch_diffusers_config

        return fetch_diffusers_config(_checkpoint_shapes(path))["pretrained_model_name_or_path"]
    except Exception:
        return None


#: per family of pipeline classes (by name prefix, most specific first): the prefix of the
#: repositories whose configuration fits its single files, and the repository to use when
#: diffusers' detection names another one. diffusers tells SD3 from SD 1.x by the sizes of
#: the released models' weights, so an SD3 checkpoint of another size (a distilled or tiny
#: one) would be read with the configuration of Stable Diffusion 1.5; a Flux Fill or
#: Kontext pipeline needs the configuration of its own repository.
_FAMILY_CONFIGS = (
    ("StableDiffusion3", "stabilityai/stable-diffusion-3",
     "stabilityai/stable-diffusion-3-medium-diffusers"),
    ("FluxFill", "black-forest-labs/FLUX.1-Fill", "black-forest-labs/FLUX.1-Fill-dev"),
    ("FluxKontext", "black-forest-labs/FLUX.1-Kontext", "black-forest-labs/FLUX.1-Kontext-dev"),
    ("Flux", "black-forest-labs/FLUX.1-", "black-forest-labs/FLUX.1-dev"),
)


def single_file_config_repository(path: str, pipeline_class: Any = None) -> str | None:
    """The Hugging Face repository whose configuration files (``model_index.json``, the
    ``config.json`` of each part, the tokenizers; no weights) a single-file checkpoint
    loaded into ``pipeline_class`` takes: diffusers' detection, unless it names a
    repository of another family than the pipeline's (see ``_FAMILY_CONFIGS``)."""
    detected = _config_repository(path)
    name = getattr(pipeline_class, "__name__", "") or ""
    for prefix, fits, default in _FAMILY_CONFIGS:
        if name.startswith(prefix):
            return detected if detected and detected.startswith(fits) else default
    return detected


def _family_config(pipeline_class: Any, path: str) -> str | None:
    """The repository to give ``from_single_file`` as ``config=``, when diffusers' own
    detection would pick one that does not fit the pipeline's family; else None."""
    name = getattr(pipeline_class, "__name__", "") or ""
    if not any(name.startswith(prefix) for prefix, _, _ in _FAMILY_CONFIGS):
        return None
    chosen = single_file_config_repository(path, pipeline_class)
    return None if chosen == _config_repository(path) else chosen


#: the option that gives each kind of part a single file may lack
_PART_OPTIONS = {
    "AutoencoderKL": "--vae", "CLIPTextModel": "--text-encoders",
    "CLIPTextModelWithProjection": "--text-encoders", "T5EncoderModel": "--text-encoders",
    "SD3Transformer2DModel": "--transformer", "FluxTransformer2DModel": "--transformer",
    "UNet2DConditionModel": "--unet",
}


def _text_repository(original_config: str) -> tuple[str, str | None]:
    """Where diffusers' legacy ``original_config`` route takes the tokenizer and text
    encoder config from: the repository and subfolder of the original CLIP model."""
    target = ""
    with contextlib.suppress(Exception):
        import yaml

        with open(original_config, encoding="utf-8") as file:
            config = yaml.safe_load(file)
        target = str(config["model"]["params"]["cond_stage_config"]["target"])
    if "OpenCLIP" in target:  # Stable Diffusion 2.x
        return "stabilityai/stable-diffusion-2", "tokenizer"
    return "openai/clip-vit-large-patch14", None


def _legacy_tokenizer(pipeline_class: Any, original_config: str,
                      arguments: dict[str, Any]) -> Any:
    """The tokenizer for ``from_single_file(original_config=...)``, or None to let diffusers
    find it.

    Without the model type's configs in the cache, diffusers (0.42) falls back
    to its legacy route, which loads only tokenizers that subclass transformers'
    ``PreTrainedTokenizer``; transformers 5's CLIPTokenizer does not, so the pipeline
    ended up without one and failed with ``TypeError: unsupported operand type(s) for -:
    'set' and 'list'``. Load it here from where the legacy route would (the original CLIP
    repository; the same tokenizer the model type's repository holds).
    """
    import inspect

    try:
        from transformers import CLIPTokenizer, PreTrainedTokenizer
    except ImportError:
        return None
    if issubclass(CLIPTokenizer, PreTrainedTokenizer):
        return None  # diffusers loads it itself
    if "tokenizer" not in inspect.signature(pipeline_class.__init__).parameters:
        return None
    from huggingface_hub import hf_hub_download

    repository, subfolder = _text_repository(original_config)
    options = {key: arguments[key] for key in ("token", "local_files_only") if key in arguments}
    try:
        # transformers 5 builds an empty 2-token tokenizer, without an error, when the
        # files are missing: make sure they are there first
        config = hf_hub_download(repository, "tokenizer_config.json", subfolder=subfolder,
                                 **options)
        tokenizer = CLIPTokenizer.from_pretrained(os.path.dirname(config), **options)
    except Exception:
        return None  # diffusers finds the model type's tokenizer, or reports what is missing
    return tokenizer if len(tokenizer) > 256 else None


def _describe_failure(model: ResolvedModel, error: Exception, *, revision: str,
                      variant: str | None, subfolder: str | None, offline: bool,
                      original_config: str | None, pipeline_class: Any = None) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = {"hub": "the Hugging Face repository", "folder": "the folder",
             "file": "the checkpoint"}[model.kind]
    at = f" at revision {revision!r}" if model.kind == "hub" and revision != "main" else ""
    if isinstance(error, GatedRepoError):
        return (f"{where} {model.location!r} is gated: accept its terms on huggingface.co and "
                "give a token with --auth-token or HF_TOKEN")
    if isinstance(error, RepositoryNotFoundError):
        return f"{where} {model.location!r} does not exist (or is private: give a token)"
    if isinstance(error, RevisionNotFoundError):
        return f"{where} {model.location!r} has no revision {revision!r}"
    if model.kind == "hub" and isinstance(error, (LocalEntryNotFoundError, OSError)):
        snapshot = _cached_snapshot(model.location, revision)
        if snapshot is None:
            return (f"{where} {model.location!r}{at} is not in the local Hugging Face cache "
                    f"{_cannot_download(offline, 'it')}")
        if subfolder is None and not os.path.isfile(os.path.join(snapshot, "model_index.json")):
            return (f"{where} {model.location!r}{at} has no model_index.json: it is not a "
                    "diffusers pipeline, or the pipeline is in a subfolder (give --subfolder)")
        variants = [] if variant else _variants_only(os.path.join(snapshot, subfolder or ""))
        if variants:
            return (f"{where} {model.location!r}{at} has only the weights of the variant "
                    f"{' and '.join(map(repr, variants))}: give --variant {variants[0]}")
        rest = ("offline mode forbids downloading the rest" if offline else
                "the rest could not be downloaded")
        return (f"{where} {model.location!r}{at} is only partly in the local Hugging Face "
                f"cache and {rest}: {first_paragraph(str(error))}")
    if model.kind == "file":
        return _describe_file_failure(model.location, error, original_config, offline,
                                      pipeline_class)
    if model.kind == "folder" and variant is None:
        variants = _variants_only(os.path.join(model.location, subfolder or ""))
        if variants:
            return (f"{where} {model.location!r} has only the weights of the variant "
                    f"{' and '.join(map(repr, variants))}: give --variant {variants[0]}")
    return (f"cannot load {where} {model.location!r}: {type(error).__name__}: "
            f"{first_paragraph(str(error))}")


def _cannot_download(offline: bool, what: str) -> str:
    """``and offline mode forbids downloading <what>`` or ``and could not be downloaded``."""
    if offline:
        return f"and offline mode forbids downloading {what}"
    return ("and could not be downloaded (no connection, HF_HUB_OFFLINE=1, or a wrong name or "
            "revision)")


def _cached_snapshot(repo: str, revision: str) -> str | None:
    """The folder of ``repo`` at ``revision`` in the local hub cache, if there is one."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo, revision=revision, local_files_only=True)
    except Exception:
        return None


def _variants_only(folder: str) -> list[str]:
    """The variants (``fp16`` of ``*.fp16.safetensors``) of the weights in ``folder`` when it
    has no plain weights at all; empty otherwise."""
    variants: set[str] = set()
    plain = False
    for _, _, files in os.walk(folder):
        for name in files:
            stem, suffix = os.path.splitext(name)
            if suffix not in (".safetensors", ".bin"):
                continue
            base, dot, variant = stem.rpartition(".")
            if dot and base in ("model", "diffusion_pytorch_model", "pytorch_model"):
                variants.add(variant)
            else:
                plain = True
    return [] if plain else sorted(variants)


def _family_config_prefix(pipeline_class: Any) -> str | None:
    name = getattr(pipeline_class, "__name__", "") or ""
    return next((prefix for prefix, _, _ in _FAMILY_CONFIGS if name.startswith(prefix)), None)


def _missing_part(where: str, message: str, pipeline_class: Any, path: str) -> str:
    """A single file without the weights of one part of the pipeline (a Flux checkpoint
    holds only the transformer, most SD3 ones no T5): which part, and how to give it."""
    found = re.search(r"(\w+) = (\w+)\.from_pretrained", message) or re.search(
        r"Failed to load (\w+)", message)
    if found is None:
        return (f"{where} is not a complete model of this model type: "
                f"{first_paragraph(message).split('. Please load')[0]}")
    part, cls = (found.group(1), found.group(2)) if found.lastindex == 2 else (
        None, found.group(1))
    named = f"its {part} ({cls})" if part else f"its {cls}"
    option = _PART_OPTIONS.get(cls)
    give = f"give that part with {option}" if option else "give that part another way"
    repository = single_file_config_repository(path, pipeline_class)
    cached = (f", or have the weights of the Hugging Face repository {repository!r} in the "
              "local Hugging Face cache" if repository else "")
    return f"{where} holds no weights of {named}: {give}{cached}"


def _describe_file_failure(path: str, error: Exception, original_config: str | None,
                           offline: bool, pipeline_class: Any = None) -> str:
    import pickle

    from huggingface_hub.errors import LocalEntryNotFoundError

    where = f"the checkpoint {path!r}"
    for cause in error_chain(error):
        unsafe = re.search(r"GLOBAL (\S+) was not an allowed global", str(cause))
        if isinstance(cause, pickle.UnpicklingError) and unsafe:
            return (f"{where} is a pickle that holds more than weights ({unsafe.group(1)}), "
                    "and loading such objects could run code, so pickles are loaded with "
                    "torch.load(weights_only=True) only; convert it to .safetensors where it "
                    "is trusted")
    if "unable to load weights from checkpoint file" in str(error).lower():
        return (f"{where} cannot be read: it is damaged, incomplete or not the kind of file "
                "its name says (.safetensors, or a PyTorch pickle for .ckpt .pt .pth .bin)")
    if type(error).__name__ == "SingleFileComponentError":
        return _missing_part(where, str(error), pipeline_class, path)
    if isinstance(error, LocalEntryNotFoundError) or (
            isinstance(error, OSError) and "huggingface.co" in str(error)):
        if original_config is None:
            repository = single_file_config_repository(path, pipeline_class)
            named = f"the Hugging Face repository {repository!r}" if repository else (
                "the Hugging Face repository of its model type")
            # --original-config (an LDM .yaml) describes Stable Diffusion 1.x/2.x and SDXL
            # checkpoints only; other families have their configuration from the hub alone
            ldm = _family_config_prefix(pipeline_class) is None
            instead = (", or give --original-config" if ldm else
                       ", or give the model as a diffusers folder")
            return (f"{where} needs the configuration files of {named} (model_index.json, "
                    f"the config of each part and the tokenizers; no weights), which are not "
                    f"in the local Hugging Face cache {_cannot_download(offline, 'them')}; "
                    f"cache them once while online{instead}")
        repository, _ = _text_repository(original_config)
        return (f"{where} with --original-config {original_config!r} needs the tokenizer and "
                f"text encoder configuration of the Hugging Face repository {repository!r} "
                f"(or of the model type's repository), which are not in the local Hugging Face "
                f"cache {_cannot_download(offline, 'them')}; cache them once while online")
    return f"cannot load {where}: {type(error).__name__}: {first_paragraph(str(error))}"


def load_pipeline(
    pipeline_class: Any,
    model: ResolvedModel,
    *,
    dtype: Any,
    revision: str = "main",
    variant: str | None = None,
    subfolder: str | None = None,
    token: str | None = None,
    offline: bool = False,
    original_config: str | None = None,
    extra: dict[str, Any] | None = None,
    debug: Callable[[str], None] = lambda message: None,
    quantization_config: Any = None,
) -> Any:
    """``pipeline_class.from_pretrained`` or ``from_single_file`` as the model needs.

    A ``variant`` the model does not have falls back to the plain weights. Any
    failure becomes a :class:`DgenerateError` that says what could not be loaded.
    In offline mode nothing is downloaded, whatever the libraries would try.
    ``quantization_config`` (diffusers' ``PipelineQuantizationConfig``) quantizes
    components while they load.
    """
    arguments: dict[str, Any] = {"dtype": dtype, "local_files_only": offline,
                                 **(extra or {})}
    if token:
        arguments["token"] = token
    if quantization_config is not None:
        arguments["quantization_config"] = quantization_config
    try:
        with hub_offline(offline):
            if model.kind == "file":
                pipeline = _load_single_file(pipeline_class, model.location, original_config,
                                             arguments)
                _check_single_file_parts(pipeline, model.location)
                return _inference_mode(pipeline)
            return _load_pretrained(pipeline_class, model, revision, variant, subfolder,
                                    token, offline, arguments, debug)
    except DgenerateError:
        raise
    except Exception as error:
        raise DgenerateError(_describe_failure(
            model, error, revision=revision, variant=variant, subfolder=subfolder,
            offline=offline, original_config=original_config,
            pipeline_class=pipeline_class)) from error


def _inference_mode(pipeline: Any) -> Any:
    """Every module of ``pipeline`` in evaluation mode. diffusers (0.42) leaves the T5
    encoder it builds from an SD3 single file in training mode, where its dropout makes
    every render differ (and worse)."""
    for module in getattr(pipeline, "components", {}).values():
        if getattr(module, "training", False) and hasattr(module, "eval"):
            module.eval()
    return pipeline


def _check_single_file_parts(pipeline: Any, path: str) -> None:
    """A part whose weights the file lacked is left as empty (meta) tensors by diffusers,
    which only fails later, when the pipeline moves: say which part and weight now."""
    for name, module in getattr(pipeline, "components", {}).items():
        named = getattr(module, "named_parameters", None)
        if named is None:
            continue
        tensors = [*named(), *module.named_buffers()]
        empty = [key for key, tensor in tensors if tensor.device.type == "meta"]
        if empty:
            option = _PART_OPTIONS.get(type(module).__name__)
            give = f"; give that part with {option}" if option else ""
            raise DgenerateError(
                f"the checkpoint {path!r} lacks {len(empty)} weights of its {name} "
                f"({type(module).__name__}), such as {empty[0]!r}{give}")


def _load_single_file(pipeline_class: Any, path: str, original_config: str | None,
                      arguments: dict[str, Any]) -> Any:
    if not hasattr(pipeline_class, "from_single_file"):
        raise DgenerateError(
            f"the checkpoint {path!r} is a single file, and diffusers cannot load "
            f"{pipeline_class.__name__} from one: give a diffusers model folder or a Hugging "
            "Face repository")
    if original_config is None:
        if "config" not in arguments:
            config = _family_config(pipeline_class, path)
            if config is not None:
                arguments = {**arguments, "config": config}
        return pipeline_class.from_single_file(path, **arguments)
    if not os.path.isfile(original_config):
        raise DgenerateError(f"--original-config {original_config!r} does not exist")
    if "tokenizer" not in arguments:
        tokenizer = _legacy_tokenizer(pipeline_class, original_config, arguments)
        if tokenizer is not None:
            arguments = {**arguments, "tokenizer": tokenizer}
    return pipeline_class.from_single_file(path, original_config=original_config, **arguments)


def _load_pretrained(pipeline_class: Any, model: ResolvedModel, revision: str,
                     variant: str | None, subfolder: str | None, token: str | None,
                     offline: bool, arguments: dict[str, Any],
                     debug: Callable[[str], None]) -> Any:
    location = model.location
    if subfolder:
        if model.kind == "hub":
            location = _snapshot_subfolder(model.location, subfolder, revision, token, offline)
        else:
            location = os.path.join(location, subfolder)
            if not os.path.isdir(location):
                raise DgenerateError(
                    f"--subfolder {subfolder!r}: {model.location!r} has no such folder")
    if model.kind == "hub" and not subfolder:
        arguments = {**arguments, "revision": revision}
    try:
        return pipeline_class.from_pretrained(location, variant=variant, **arguments)
    except (OSError, ValueError) as error:
        if not _variant_missing(error, variant):
            raise
        debug(f"the model has no {variant!r} variant; loading the plain weights")
        return pipeline_class.from_pretrained(location, **arguments)


def _snapshot_subfolder(repo: str, subfolder: str, revision: str, token: str | None,
                        offline: bool) -> str:
    from huggingface_hub import snapshot_download

    folder = snapshot_download(repo, revision=revision, token=token, local_files_only=offline,
                               allow_patterns=[f"{subfolder}/*", f"{subfolder}/**/*"])
    location = os.path.join(folder, subfolder)
    if not os.path.isdir(location):
        raise DgenerateError(f"--subfolder {subfolder!r}: the repository {repo!r} has no such "
                             "folder")
    return location


def safety_checker_arguments(pipeline_class: Any, enabled: bool) -> dict[str, Any]:
    """Loading arguments of a pipeline with a ``safety_checker`` component: none with
    ``--safety-checker`` (``enabled``), else the checker left out (and not asked for)."""
    import inspect

    if enabled:
        return {}
    parameters = inspect.signature(pipeline_class.__init__).parameters
    arguments: dict[str, Any] = {}
    if "safety_checker" in parameters:
        arguments["safety_checker"] = None
    if "requires_safety_checker" in parameters:
        arguments["requires_safety_checker"] = False
    return arguments
