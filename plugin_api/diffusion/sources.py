"""Where a model comes from: a folder, a Hugging Face repository, a file or a URL."""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Callable

from ..errors import DgenerateError
from .embedded import embedded_model_folder, is_embedded_name

__all__ = ["MODEL_FILE_SUFFIXES", "ResolvedModel", "resolve_model"]

MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_HF_FILE_LINK = re.compile(
    r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>[^/]+/[^/]+)/(?:blob|resolve)/"
    r"(?P<revision>[^/]+)/(?P<file>[^?#]+)")
_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    """``kind`` is ``folder`` (a diffusers folder), ``hub`` (a repository id) or ``file``
    (a single-file checkpoint on disk)."""

    kind: str
    location: str
    name: str


def _is_url(path: str) -> bool:
    return path.lower().startswith(("http://", "https://"))


def _download_hub_file(match: re.Match[str], token: str | None, offline: bool) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # links are URL-encoded: a space is %20, a revision like refs/pr/1 is refs%2Fpr%2F1
    repo, revision, filename = (urllib.parse.unquote(match.group(name))
                                for name in ("repo", "revision", "file"))
    at = f" at revision {revision!r}" if revision != "main" else ""
    try:
        return hf_hub_download(repo, filename, revision=revision, token=token,
                               local_files_only=offline)
    except LocalEntryNotFoundError:
        raise DgenerateError(
            f"{filename!r} of the Hugging Face repository {repo!r}{at} is not in the local "
            "Hugging Face cache" + (" and offline mode forbids downloading it" if offline else
                                    " and could not be downloaded")) from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        reason = " ".join(str(error).split())  # one paragraph
        raise DgenerateError(
            f"cannot download {filename!r} from the Hugging Face repository {repo!r}{at}: "
            f"{reason}") from None


def resolve_model(path: str, *, fetch: Callable[[str], str], token: str | None,
                  offline: bool) -> ResolvedModel:
    """Classify ``model_path`` and bring files to disk where needed.

    ``embedded:<name>`` names a model shipped with dgenerate (a folder).
    Hugging Face blob links are downloaded into the Hugging Face cache, other
    URLs into dgenerate's web cache (``fetch``); repository ids are left to the
    pipeline loader, which downloads only the files it needs.
    """
    if is_embedded_name(path):
        return ResolvedModel("folder", embedded_model_folder(path), path.split(":", 1)[1])
    name = os.path.basename(path.rstrip("/\\")) or path
    match = _HF_FILE_LINK.match(path)
    if match:
        if not urllib.parse.unquote(match.group("file")).lower().endswith(MODEL_FILE_SUFFIXES):
            raise DgenerateError(
                f"the Hugging Face link {path!r} is not to a checkpoint file "
                f"({', '.join(MODEL_FILE_SUFFIXES)}); for a diffusers pipeline give the "
                "repository id (owner/name)")
        local = _download_hub_file(match, token, offline)
        return ResolvedModel("file", local, os.path.splitext(os.path.basename(local))[0])
    if _is_url(path):
        local = fetch(path)
        if not local.lower().endswith(MODEL_FILE_SUFFIXES):
            raise DgenerateError(
                f"the model URL {path!r} downloaded {os.path.basename(local)!r}, which is not a "
                f"checkpoint file ({', '.join(MODEL_FILE_SUFFIXES)})")
        return ResolvedModel("file", local, os.path.splitext(os.path.basename(local))[0])
    expanded = os.path.expanduser(path)
    if os.path.isdir(expanded):
        return ResolvedModel("folder", expanded, name)
    if os.path.isfile(expanded):
        if not expanded.lower().endswith(MODEL_FILE_SUFFIXES):
            raise DgenerateError(
                f"the model file {path!r} is not a checkpoint ({', '.join(MODEL_FILE_SUFFIXES)}); "
                "give a diffusers folder, a checkpoint file, a URL or a Hugging Face repository")
        return ResolvedModel("file", expanded, os.path.splitext(name)[0])
    if _SLUG.match(path) and not path.lower().endswith(MODEL_FILE_SUFFIXES):
        return ResolvedModel("hub", path, name)
    raise DgenerateError(
        f"the model {path!r} does not exist: it is not a folder, a checkpoint file, a URL or a "
        "Hugging Face repository id (owner/name)")
