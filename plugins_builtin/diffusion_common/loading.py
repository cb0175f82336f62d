"""Loading diffusers pipelines from a resolved model, with clear errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from dgenerate.plugin_api import DgenerateError

from .sources import ResolvedModel

__all__ = ["disk_size", "load_pipeline"]


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


def _variant_missing(error: Exception, variant: str | None) -> bool:
    return variant is not None and "variant" in str(error).lower()


def _describe_failure(model: ResolvedModel, error: Exception) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = {"hub": "the Hugging Face repository", "folder": "the folder",
             "file": "the checkpoint"}[model.kind]
    if isinstance(error, GatedRepoError):
        return (f"{where} {model.location!r} is gated: accept its terms on huggingface.co and "
                "give a token with --auth-token or HF_TOKEN")
    if isinstance(error, RepositoryNotFoundError):
        return f"{where} {model.location!r} does not exist (or is private: give a token)"
    if isinstance(error, RevisionNotFoundError):
        return f"{where} {model.location!r} has no such revision: {error}"
    if isinstance(error, LocalEntryNotFoundError) or (
            model.kind == "hub" and isinstance(error, OSError)):
        return (f"{where} {model.location!r} could not be loaded: it is not in the local "
                "Hugging Face cache and could not be downloaded (check the name; offline mode "
                "or no connection forbid downloads)")
    return f"cannot load {where} {model.location!r}: {type(error).__name__}: {error}"


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
) -> Any:
    """``pipeline_class.from_pretrained`` or ``from_single_file`` as the model needs.

    A ``variant`` the model does not have falls back to the plain weights. Any
    failure becomes a :class:`DgenerateError` that says what could not be loaded.
    """
    arguments: dict[str, Any] = {"dtype": dtype, "local_files_only": offline,
                                 **(extra or {})}
    if token:
        arguments["token"] = token
    try:
        if model.kind == "file":
            if original_config is not None and not os.path.isfile(original_config):
                raise DgenerateError(f"--original-config {original_config!r} does not exist")
            return pipeline_class.from_single_file(
                model.location, original_config=original_config, **arguments)
        location = model.location
        if subfolder:
            if model.kind == "hub":
                location = _snapshot_subfolder(model.location, subfolder, revision, token,
                                               offline)
            else:
                location = os.path.join(location, subfolder)
                if not os.path.isdir(location):
                    raise DgenerateError(
                        f"--subfolder {subfolder!r}: {model.location!r} has no such folder")
        if model.kind == "hub" and not subfolder:
            arguments["revision"] = revision
        try:
            return pipeline_class.from_pretrained(location, variant=variant, **arguments)
        except (OSError, ValueError) as error:
            if not _variant_missing(error, variant):
                raise
            debug(f"the model has no {variant!r} variant; loading the plain weights")
            return pipeline_class.from_pretrained(location, **arguments)
    except DgenerateError:
        raise
    except Exception as error:
        raise DgenerateError(_describe_failure(model, error)) from error


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
