"""dgenerate's web cache: files downloaded from plain URLs, kept for a while.

Files live under ``$DGENERATE_CACHE/web`` (default ``~/.cache/dgenerate/web``),
one folder per URL (named by a hash of it) holding the file under its own name
and a small ``entry.json`` recording the URL and when it was fetched. Entries
older than the expiry (12 hours by default; ``DGENERATE_WEB_CACHE_EXPIRY_DELTA``
as ``timedelta`` keyword arguments like ``days=5;hours=6``, or ``forever``) are
deleted when the cache is opened and are downloaded again when asked for.

In offline mode only what is cached can be used, expired or not, and nothing is
deleted. CivitAI API links get
``CIVIT_AI_TOKEN`` appended when it is set. Downloads go to a temporary file
renamed when complete, so the cache never holds half a file.
"""

from __future__ import annotations

import datetime
import email.message
import hashlib
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.files import atomic_output

__all__ = ["WebCache", "cache_root", "parse_expiry"]

DEFAULT_EXPIRY = datetime.timedelta(hours=12)
_ENTRY = "entry.json"
_TIMEDELTA_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds",
                   "microseconds")


def cache_root() -> Path:
    """``$DGENERATE_CACHE`` or ``~/.cache/dgenerate``."""
    configured = os.environ.get("DGENERATE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "dgenerate"


def parse_expiry(text: str | None) -> datetime.timedelta | None:
    """``None`` (the variable is unset) -> 12 hours; ``forever`` or ``""`` -> never expire."""
    if text is None:
        return DEFAULT_EXPIRY
    text = text.strip()
    if not text or text.lower() == "forever":
        return None
    arguments = {}
    for part in text.split(";"):
        key, equals, value = part.partition("=")
        key = key.strip().lower()
        if not equals or key not in _TIMEDELTA_KEYS:
            raise DgenerateError(
                f"DGENERATE_WEB_CACHE_EXPIRY_DELTA: {part.strip()!r} is not one of "
                f"{', '.join(_TIMEDELTA_KEYS)} followed by =NUMBER (e.g. days=5;hours=6), "
                "and the value is not 'forever'")
        try:
            arguments[key] = float(value)
        except ValueError:
            raise DgenerateError(
                f"DGENERATE_WEB_CACHE_EXPIRY_DELTA: {value.strip()!r} is not a number") from None
    try:
        return datetime.timedelta(**arguments)
    except (ValueError, OverflowError):  # nan, inf, or beyond a timedelta's range
        raise DgenerateError(
            f"DGENERATE_WEB_CACHE_EXPIRY_DELTA: {text!r} is not a usable duration (finite, "
            "below 999999999 days; use 'forever' for no expiry)") from None


def _safe_name(name: str | None) -> str | None:
    """The last part of a file name given by a server or a URL, or None if nothing usable
    remains (names must not lead out of the cache folder)."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\0", "")
    return None if name in ("", ".", "..") or name == _ENTRY else name


def _file_name(url: str, headers: email.message.Message | None) -> str:
    if headers is not None:
        disposition = _safe_name(headers.get_filename())
        if disposition:
            return disposition
    path = urllib.parse.urlparse(url).path
    return _safe_name(urllib.parse.unquote(path)) or "download"


def _with_civitai_token(url: str) -> str:
    token = os.environ.get("CIVIT_AI_TOKEN")
    parsed = urllib.parse.urlparse(url)
    if not token or not re.match(r"^(www\.)?civitai\.com$", parsed.netloc or ""):
        return url
    if not parsed.path.startswith("/api/download"):
        return url
    query = urllib.parse.parse_qs(parsed.query)
    if "token" in query:
        return url
    joined = f"{parsed.query}&token={token}" if parsed.query else f"token={token}"
    return urllib.parse.urlunparse(parsed._replace(query=joined))


class WebCache:
    """Download URLs once and reuse the files until they expire."""

    def __init__(self, root: Path | None = None, *, offline: bool = False,
                 expiry: datetime.timedelta | str | None = "from-environment") -> None:
        self.root = (root or cache_root()) / "web"
        self.offline = offline
        self.expiry = (parse_expiry(os.environ.get("DGENERATE_WEB_CACHE_EXPIRY_DELTA"))
                       if expiry == "from-environment" else expiry)
        self._pruned = False

    def _folder(self, url: str) -> Path:
        return self.root / hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]

    def _expired(self, fetched: float) -> bool:
        # offline, an old copy is better than none: it cannot be downloaded again
        return (not self.offline and self.expiry is not None
                and time.time() - fetched > self.expiry.total_seconds())

    def prune(self) -> None:
        """Delete expired entries (done once, when the cache is first used; never in
        offline mode, where they could not be downloaded again)."""
        self._pruned = True
        if self.offline or not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            try:
                entry = json.loads((folder / _ENTRY).read_text())
                expired = self._expired(entry["fetched"])
            except (OSError, ValueError, KeyError):
                expired = True  # broken entries are removed too
            if expired:
                shutil.rmtree(folder, ignore_errors=True)

    def cached(self, url: str) -> Path | None:
        """The cached file of ``url`` if present and not expired."""
        folder = self._folder(url)
        try:
            entry = json.loads((folder / _ENTRY).read_text())
        except (OSError, ValueError):
            return None
        path = folder / entry.get("file", "")
        if not path.is_file() or self._expired(entry.get("fetched", 0)):
            return None
        return path

    def fetch(self, url: str) -> str:
        """The local path of ``url``'s content, downloading it unless a fresh copy is cached."""
        if not self._pruned:
            self.prune()
        cached = self.cached(url)
        if cached is not None:
            return str(cached)
        if self.offline:
            raise DgenerateError(
                f"{url!r} is not in the web cache and offline mode forbids downloading it")
        return str(self._download(url))

    def download(self, url: str, output: str | None = None, *, overwrite: bool = False,
                 text: bool = False, base_dir: str | None = None) -> str:
        """Download for ``\\download``: into the cache, or to ``output`` (a file, or a folder
        when it ends with ``/`` or exists as one). Existing files are reused unless
        ``overwrite``; text content (``text/*``) is refused unless ``text``."""
        if output is None:
            if not overwrite:
                path = self.fetch(url)
                if not text:
                    self._refuse_text(url, self._content_type(url))
                return path
            self._refuse_offline(url)
            return str(self._download(url, allow_text=text))
        target = Path(base_dir or os.getcwd()) / os.path.expanduser(output)
        folder = output.endswith(("/", os.sep)) or target.is_dir()
        if folder:
            guess = target / _file_name(url, None)
            if guess.is_file() and not overwrite:
                return str(guess)
        elif target.is_file() and not overwrite:
            return str(target)
        self._refuse_offline(url)
        return str(self._download(url, allow_text=text, destination=target, into=folder))

    def _refuse_offline(self, url: str) -> None:
        if self.offline:
            raise DgenerateError(f"cannot download {url!r} in offline mode")

    def _content_type(self, url: str) -> str:
        try:
            return json.loads((self._folder(url) / _ENTRY).read_text()).get("type", "")
        except (OSError, ValueError):
            return ""

    @staticmethod
    def _refuse_text(url: str, content_type: str) -> None:
        if content_type.lower().startswith("text/"):
            raise DgenerateError(
                f"{url!r} sent text ({content_type.split(';')[0]}), not a file such as a model "
                "or an image; accept text explicitly (\\download -t, download(text=True))")

    def _download(self, url: str, *, allow_text: bool = True, destination: Path | None = None,
                  into: bool = False) -> Path:
        """Download to the cache (default), to the file ``destination``, or ``into`` the
        folder ``destination``."""
        request = urllib.request.Request(_with_civitai_token(url),
                                         headers={"User-Agent": "dgenerate"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                content_type = response.headers.get("Content-Type", "")
                if not allow_text:
                    self._refuse_text(url, content_type)
                name = _file_name(url, response.headers)
                if destination is None:
                    folder = self._folder(url)
                    path = folder / name
                else:
                    path = destination / name if into else destination
                    folder = path.parent
                folder.mkdir(parents=True, exist_ok=True)
                with atomic_output(path) as temporary, open(temporary, "wb") as file:
                    shutil.copyfileobj(response, file)
        except urllib.error.HTTPError as error:
            raise DgenerateError(f"cannot download {url!r}: HTTP {error.code} {error.reason}"
                                 ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise DgenerateError(f"cannot download {url!r}: {reason}") from None
        if destination is None:
            with atomic_output(folder / _ENTRY) as temporary:
                temporary.write_text(json.dumps({"url": url, "file": name, "type": content_type,
                                                 "fetched": time.time()}))
        return path
