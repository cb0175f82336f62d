"""spaCy language pipelines: downloaded once as the published model wheel, unpacked
under ``$DGENERATE_CACHE/spacy`` and kept in memory for the rest of the process.

The wheel comes through the plugin context's web cache (so ``--offline-mode`` and the
cache settings apply). ``DGENERATE_SPACY_MODEL_URL`` replaces the download address: a
template with ``{name}`` and ``{version}`` (a mirror, or a local server in tests).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.webcache import cache_root

__all__ = ["MODELS", "URL_TEMPLATE", "URL_VARIABLE", "load_pipeline", "model_folder",
           "model_url", "model_version"]

#: the small pipeline of each language (the ones with a dependency parser or tagger)
MODELS = {
    "en": "en_core_web_sm", "de": "de_core_news_sm", "fr": "fr_core_news_sm",
    "es": "es_core_news_sm", "it": "it_core_news_sm", "nl": "nl_core_news_sm",
    "pt": "pt_core_news_sm", "ru": "ru_core_news_sm", "zh": "zh_core_web_sm",
}

URL_TEMPLATE = ("https://github.com/explosion/spacy-models/releases/download/"
                "{name}-{version}/{name}-{version}-py3-none-any.whl")
URL_VARIABLE = "DGENERATE_SPACY_MODEL_URL"

_loaded: dict[Path, Any] = {}
_lock = threading.Lock()


def model_version() -> str:
    """The model release matching the installed spaCy: models follow its minor version."""
    from importlib.metadata import version

    major, minor = version("spacy").split(".")[:2]
    return f"{major}.{minor}.0"


def model_url(name: str, version: str) -> str:
    template = os.environ.get(URL_VARIABLE) or URL_TEMPLATE
    try:
        return template.format(name=name, version=version)
    except (KeyError, IndexError, ValueError) as error:
        raise DgenerateError(
            f"{URL_VARIABLE}={template!r} is not a URL template with {{name}} and "
            f"{{version}}: {error}") from error


def model_folder(name: str, version: str) -> Path:
    """Where the pipeline is unpacked: ``$DGENERATE_CACHE/spacy/NAME-VERSION``."""
    return cache_root() / "spacy" / f"{name}-{version}"


def _data_prefix(archive: zipfile.ZipFile, name: str, version: str) -> str:
    """The folder of the wheel holding the pipeline (``name/name-version/``)."""
    members = archive.namelist()
    for member in members:
        if member.startswith("/") or ".." in Path(member).parts:
            raise DgenerateError(f"the spaCy model wheel of {name} holds an unsafe path "
                                 f"{member!r}")
    expected = f"{name}/{name}-{version}/"
    if expected + "config.cfg" in members:
        return expected
    found = sorted(member[:-len("config.cfg")] for member in members
                   if member.endswith("/config.cfg") and ".dist-info/" not in member)
    if not found:
        raise DgenerateError(f"the spaCy model wheel of {name} holds no pipeline "
                             "(no config.cfg)")
    return found[0]


def _unpack(wheel: str, name: str, version: str, folder: Path) -> None:
    """Extract the pipeline folder of the wheel into ``folder`` (temporary folder, then
    one rename, so a half-unpacked pipeline is never seen)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            prefix = _data_prefix(archive, name, version)
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
            try:
                for member in archive.infolist():
                    if not member.filename.startswith(prefix) or member.is_dir():
                        continue
                    target = staging / member.filename[len(prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as source, open(target, "wb") as output:
                        shutil.copyfileobj(source, output)
                try:
                    staging.rename(folder)
                except OSError:
                    if not (folder / "config.cfg").is_file():  # not another process's copy
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as error:
        raise DgenerateError(f"the downloaded spaCy model {name} ({wheel}) is not a wheel "
                             f"(zip) file: {error}") from error
    except OSError as error:
        raise DgenerateError(f"cannot unpack the spaCy model {name} into {folder}: "
                             f"{error}") from error


def _fetch(url: str, context: Any) -> str:
    if context is not None:
        return context.fetch(url)
    from dgenerate.plugin_api.webcache import WebCache

    return WebCache().fetch(url)


def load_pipeline(lang: str, context: Any = None) -> Any:
    """The spaCy pipeline of ``lang``, downloaded and unpacked on first use."""
    name = MODELS[lang]
    version = model_version()
    folder = model_folder(name, version)
    with _lock:
        if folder in _loaded:
            return _loaded[folder]
        if not (folder / "config.cfg").is_file():
            _unpack(_fetch(model_url(name, version), context), name, version, folder)
        import spacy

        try:
            pipeline = spacy.load(folder)
        except ImportError as error:  # zh_core_web_sm needs spacy-pkuseg, for example
            raise DgenerateError(
                f"the spaCy model {name} needs a Python package that is not installed: "
                f"{error}") from error
        except Exception as error:
            raise DgenerateError(
                f"cannot load the spaCy model {name} from {folder} ({error}); delete that "
                "folder to download it again") from error
        _loaded[folder] = pipeline
        return pipeline
