"""dgenerate's web cache: files downloaded from plain URLs, kept for a while.

Files live under ``$DGENERATE_CACHE/web`` (default ``~/.cache/dgenerate/web``),
one folder per URL (named by a hash of it) holding the file under its own name,
a small ``entry.json`` recording the URL, the content type and when it was
fetched, and a ``.lock`` file. Entries older than the expiry (12 hours by
default; ``DGENERATE_WEB_CACHE_EXPIRY_DELTA`` as ``timedelta`` keyword arguments
like ``days=5;hours=6``, or ``forever``) are deleted when the cache is opened and
are downloaded again when asked for. In offline mode only what is cached can be
used, expired or not, and nothing is deleted. CivitAI API links get
``CIVIT_AI_TOKEN`` appended when it is set.

Only ``http://`` and ``https://`` URLs with a host are downloaded, and redirects
are followed to such URLs only; anything else is refused, naming the URL, before
urllib sees it. A download is complete or it is not kept: it goes to a temporary
file renamed when done, and is refused when fewer bytes came than
``Content-Length`` announced (not compared for a ``Content-Encoding`` other than
identity: urllib does not decode, the body is stored as sent), when the
connection fails midway, when it is larger than ``DGENERATE_WEB_CACHE_MAX_BYTES``
(64 GiB by default; bytes or a size like ``500MB`` or ``2GiB``; there is always
a cap) or than the free space of its folder, or when it takes longer than
``DGENERATE_WEB_DOWNLOAD_TIMEOUT`` seconds (6 hours by default; each read also
waits at most 60 seconds). Text (``text/*``) is refused before anything is
committed unless it is asked for. ``entry.json`` is written last, so an entry
without one is unfinished or broken; a failed download removes its entry folder.
Errors, a full or read-only disk included, are :class:`DgenerateError` naming
the URL or the folder.

Several processes may share the cache. A download into the cache holds an
exclusive ``fcntl.flock`` on the entry's ``.lock`` for the whole download; a
second process fetching the same URL waits for it (up to its own download time
limit) and then reuses the file. :meth:`WebCache.prune` deletes an entry only
while holding its lock, so no download in progress loses its folder, and deletes
a broken entry (no readable ``entry.json``) only when nothing in it changed for
an hour. Where ``fcntl`` is missing (Windows), ``.lock`` is instead an
in-progress marker holding the process id, rewritten every minute while the
download runs and removed at its end; prune leaves an entry alone while its
marker is less than an hour old, and concurrent downloads of one URL each write
their own temporary file, renamed atomically (the last one wins).
"""

from __future__ import annotations

import contextlib
import datetime
import email.message
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import DgenerateError
from .files import atomic_output

try:
    import fcntl
except ImportError:  # Windows: in-progress markers stand in for locks
    fcntl = None  # type: ignore[assignment]

__all__ = ["WebCache", "cache_root", "check_url", "parse_expiry", "parse_max_bytes",
           "parse_timeout"]

DEFAULT_EXPIRY = datetime.timedelta(hours=12)
DEFAULT_MAX_BYTES = 64 * 1024 ** 3
DEFAULT_TIMEOUT = 6 * 3600.0
MAX_BYTES_VARIABLE = "DGENERATE_WEB_CACHE_MAX_BYTES"
TIMEOUT_VARIABLE = "DGENERATE_WEB_DOWNLOAD_TIMEOUT"
_SOCKET_TIMEOUT = 60.0  # the longest one read may wait
_STALE = 3600.0  # broken entries untouched this long, and markers this old, are abandoned
_HEARTBEAT = 60.0  # how often a download in progress refreshes its marker
_CHUNK = 1 << 20
_ENTRY = "entry.json"
_LOCK = ".lock"
_CACHE_LABEL = "the web cache folder"
_TIMEDELTA_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds",
                   "microseconds")
_UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


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


def parse_max_bytes(text: str | None) -> int:
    """The size cap of one download: unset or blank -> 64 GiB. There is always a cap, so that
    a hostile URL cannot fill the disk."""
    if text is None or not text.strip():
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", text.lower())
    size = 0
    if match is not None and match[2] in _UNITS:
        number, unit = match[1], _UNITS[match[2]]
        size = int(number) * unit if number.isdigit() else int(float(number) * unit)
    if size < 1:
        raise DgenerateError(
            f"{MAX_BYTES_VARIABLE}: {text!r} is not a size above 0; give bytes (1073741824) "
            "or a number with KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers "
            "of 1024), e.g. 500MB or 2GiB. The cap cannot be turned off; unset the variable "
            f"for the default of {_size(DEFAULT_MAX_BYTES)}")
    return size


def parse_timeout(text: str | None) -> float:
    """The time limit of one download in seconds: unset or blank -> 6 hours. There is always
    one, so that a server trickling bytes cannot hold a run forever."""
    if text is None or not text.strip():
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise DgenerateError(
            f"{TIMEOUT_VARIABLE}: {text!r} is not a number of seconds above 0 (e.g. 600); "
            "the time limit cannot be turned off; unset the variable for the default of "
            f"{DEFAULT_TIMEOUT:g} seconds (6 hours)")
    return seconds


def _size(count: int) -> str:
    """A byte count for messages: ``2 GiB (2147483648 bytes)``."""
    for name, unit in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if count >= unit:
            return f"{count / unit:.4g} {name} ({count} bytes)"
    return f"{count} bytes"


def _url_problem(url: str) -> str | None:
    """Why urllib could not download ``url`` (or would fail with an unexpected exception)."""
    if re.search(r"[\x00-\x20\x7f]", url):
        return "it contains spaces or control characters (write a space as %20)"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as error:
        return str(error)
    if parts.scheme.lower() not in ("http", "https"):
        return "only http:// and https:// URLs can be downloaded"
    if not host:
        return "it names no host"
    return None


def check_url(url: str) -> None:
    """Refuse a malformed URL with a message naming it, before urllib sees it."""
    problem = _url_problem(url)
    if problem is not None:
        raise DgenerateError(f"{url!r} is not a URL that can be downloaded: {problem}")


def _safe_name(name: str | None) -> str | None:
    """The last part of a file name given by a server or a URL, or None if nothing usable
    remains (names must not lead out of the cache folder or replace its bookkeeping)."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\0", "")
    return None if name in ("", ".", "..", _ENTRY, _LOCK) else name


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


def _reason(error: OSError) -> str:
    """``[Errno 28] No space left on device``, without the temporary file's name."""
    if error.errno and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return str(error) or type(error).__name__


def _announced_length(response: Any) -> int | None:
    """``Content-Length`` if the server sent a usable one (chunked bodies have none)."""
    if "chunked" in response.headers.get("Transfer-Encoding", "").lower():
        return None
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _identity(response: Any) -> bool:
    return response.headers.get("Content-Encoding", "").strip().lower() in ("", "identity")


class _WebRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only: urllib would follow one to ftp as well."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl!r}, not an "
                                         "http(s) URL", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# ------------------------------------------------------------- entries and locks


def _read_entry(folder: Path) -> dict[str, Any] | None:
    """The record of a finished entry, or None if it is missing or broken."""
    try:
        entry = json.loads((folder / _ENTRY).read_text())
    except (OSError, ValueError):
        return None
    if (not isinstance(entry, dict) or not isinstance(entry.get("file"), str)
            or not isinstance(entry.get("fetched"), int | float)):
        return None
    return entry


def _last_change(folder: Path) -> float:
    """When anything in an entry folder (but the lock file) last changed; a download in
    progress keeps writing its temporary file."""
    try:
        newest = folder.stat().st_mtime
        with os.scandir(folder) as found:
            for item in found:
                if item.name != _LOCK:
                    newest = max(newest, item.stat(follow_symlinks=False).st_mtime)
    except OSError:  # gone meanwhile, or unreadable: not ours to judge
        return time.time()
    return newest


def _write_error(label: str, folder: Path, error: OSError, url: str) -> DgenerateError:
    """A disk that is full or read-only, said as one paragraph naming the folder."""
    where = ("choose another with DGENERATE_CACHE" if label == _CACHE_LABEL
             else "choose another output path")
    return DgenerateError(
        f"cannot write {label} '{folder}': {_reason(error)} (downloading {url!r}); free "
        f"some space or fix its permissions, or {where}")


def _make_folder(folder: Path, label: str, url: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _write_error(label, folder, error, url) from None


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those above it that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_trace(folder: Path, created: list[Path]) -> None:
    """Remove a failed download's entry folder and the (still empty) folders it created."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in created:
        with contextlib.suppress(OSError):  # not empty: another download uses it
            parent.rmdir()


def _write_marker(path: Path) -> None:
    """Record who is downloading and when it last made progress (the portable liveness
    signal; on POSIX the lock itself is what counts)."""
    with contextlib.suppress(OSError):
        path.write_text(f"{os.getpid()} {time.time():.0f}\n")


def _flock(descriptor: int) -> bool:
    """Lock without waiting; False if another open file holds the lock."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks (some network mounts): go on unlocked
        return True
    return True


def _is_current(descriptor: int, path: Path) -> bool:
    """Whether the locked file is still the one at ``path``: prune may have deleted the
    folder (lock file and all) between our open and our lock."""
    try:
        here, there = os.fstat(descriptor), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def _try_lock(folder: Path) -> Iterator[bool]:
    """Take an entry's lock without waiting; yields whether it is ours (False: a download
    is in progress there)."""
    path = folder / _LOCK
    if fcntl is None:
        try:
            fresh = time.time() - path.stat().st_mtime < _STALE
        except OSError:
            fresh = False
        yield not fresh
        return
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        yield _flock(descriptor) and _is_current(descriptor, path)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _hold_lock(folder: Path, url: str, deadline: float, timeout: float
               ) -> Iterator[Callable[[], None]]:
    """Hold an entry's lock for a download, waiting for another process's download of the
    same URL to end first; yields a heartbeat to call as bytes arrive."""
    path = folder / _LOCK
    descriptor = None
    if fcntl is not None:
        descriptor = _wait_for_lock(folder, url, deadline, timeout)
    else:
        _make_folder(folder, _CACHE_LABEL, url)
    last = [time.monotonic()]

    def heartbeat() -> None:
        if time.monotonic() - last[0] >= _HEARTBEAT:
            last[0] = time.monotonic()
            _write_marker(path)

    _write_marker(path)
    try:
        yield heartbeat
    finally:
        if descriptor is not None:
            os.close(descriptor)
        else:  # the marker says "in progress": it must not outlive the download
            with contextlib.suppress(OSError):
                path.unlink()


def _wait_for_lock(folder: Path, url: str, deadline: float, timeout: float) -> int:
    delay = 0.02
    while True:
        _make_folder(folder, _CACHE_LABEL, url)
        try:
            descriptor = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # removed meanwhile, by prune or a failed download
            descriptor = None
        except OSError as error:
            raise _write_error(_CACHE_LABEL, folder, error, url) from None
        if descriptor is not None:
            if _flock(descriptor) and _is_current(descriptor, folder / _LOCK):
                return descriptor
            os.close(descriptor)
        if time.monotonic() > deadline:
            raise DgenerateError(
                f"cannot download {url!r}: another process has been downloading it into "
                f"'{folder}' for longer than the download time limit of {timeout:g} seconds; "
                f"wait for it to finish, or raise the limit with {TIMEOUT_VARIABLE}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


# ---------------------------------------------------------------------- the cache


class WebCache:
    """Download URLs once and reuse the files until they expire."""

    def __init__(self, root: Path | None = None, *, offline: bool = False,
                 expiry: datetime.timedelta | str | None = "from-environment",
                 max_bytes: int | None = None, timeout: float | None = None) -> None:
        self.root = (root or cache_root()) / "web"
        self.offline = offline
        self.expiry = (parse_expiry(os.environ.get("DGENERATE_WEB_CACHE_EXPIRY_DELTA"))
                       if expiry == "from-environment" else expiry)
        self.max_bytes = (parse_max_bytes(os.environ.get(MAX_BYTES_VARIABLE))
                          if max_bytes is None else max_bytes)
        self.timeout = (parse_timeout(os.environ.get(TIMEOUT_VARIABLE))
                        if timeout is None else timeout)
        self._pruned = False

    def _folder(self, url: str) -> Path:
        return self.root / hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]

    def _expired(self, fetched: float) -> bool:
        # offline, an old copy is better than none: it cannot be downloaded again
        return (not self.offline and self.expiry is not None
                and time.time() - fetched > self.expiry.total_seconds())

    # ------------------------------------------------------------------ pruning

    def prune(self) -> None:
        """Delete expired entries and abandoned broken ones (done once, when the cache is
        first used; never in offline mode, where they could not be downloaded again)."""
        self._pruned = True
        if self.offline:
            return
        try:
            folders = [folder for folder in self.root.iterdir() if folder.is_dir()]
        except OSError:  # no cache yet, or unreadable: nothing to prune
            return
        for folder in folders:
            if self._prunable(folder):
                self._remove(folder)

    def _prunable(self, folder: Path) -> bool:
        entry = _read_entry(folder)
        if entry is not None:
            return self._expired(entry["fetched"])
        return time.time() - _last_change(folder) > _STALE

    def _remove(self, folder: Path) -> None:
        """Delete an entry under its lock, so that no download in progress loses its folder.

        Under the lock only the entry is looked at again: a download that finished
        meanwhile left a fresh one; taking the lock itself touched the folder."""
        with _try_lock(folder) as ours:
            if not ours:
                return
            entry = _read_entry(folder)
            if entry is None or self._expired(entry["fetched"]):
                shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------- lookup

    def _cached_entry(self, url: str) -> tuple[Path, dict[str, Any]] | None:
        folder = self._folder(url)
        entry = _read_entry(folder)
        if entry is None:
            return None
        path = folder / entry["file"]
        if not path.is_file() or self._expired(entry["fetched"]):
            return None
        return path, entry

    def cached(self, url: str) -> Path | None:
        """The cached file of ``url`` if present and not expired."""
        found = self._cached_entry(url)
        return None if found is None else found[0]

    def fetch(self, url: str) -> str:
        """The local path of ``url``'s content, downloading it unless a fresh copy is cached."""
        check_url(url)
        return self._fetch(url, allow_text=True)

    def _fetch(self, url: str, *, allow_text: bool) -> str:
        if not self._pruned:
            self.prune()
        found = self._cached_entry(url)
        if found is not None:
            if not allow_text:
                self._refuse_text(url, found[1].get("type", ""))
            return str(found[0])
        if self.offline:
            raise DgenerateError(
                f"{url!r} is not in the web cache and offline mode forbids downloading it")
        return str(self._download(url, allow_text=allow_text, reuse=True))

    def download(self, url: str, output: str | None = None, *, overwrite: bool = False,
                 text: bool = False, base_dir: str | None = None) -> str:
        """Download for ``\\download``: into the cache, or to ``output`` (a file, or a folder
        when it ends with ``/`` or exists as one). Existing files are reused unless
        ``overwrite``; text content (``text/*``) is refused unless ``text``."""
        check_url(url)
        if output is None:
            if not overwrite:
                return self._fetch(url, allow_text=text)
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

    @staticmethod
    def _refuse_text(url: str, content_type: str) -> None:
        if content_type.lower().startswith("text/"):
            raise DgenerateError(
                f"{url!r} sent text ({content_type.split(';')[0]}), not a file such as a model "
                "or an image; accept text explicitly (\\download -t, download(text=True))")

    # ---------------------------------------------------------------- download

    def _download(self, url: str, *, allow_text: bool = True, destination: Path | None = None,
                  into: bool = False, reuse: bool = False) -> Path:
        """Download to the cache (default), to the file ``destination``, or ``into`` the
        folder ``destination``. ``reuse``: take what another process finished meanwhile."""
        if destination is not None:
            def place(name: str) -> Path:
                return destination / name if into else destination

            return self._receive(url, allow_text, time.monotonic() + self.timeout, place,
                                 lambda: None, "the folder")[0]
        folder = self._folder(url)
        created = _missing_folders(folder)
        waited = time.monotonic() + self.timeout
        with _hold_lock(folder, url, waited, self.timeout) as heartbeat:
            deadline = time.monotonic() + self.timeout  # waiting is not downloading
            found = self._cached_entry(url) if reuse else None
            if found is not None:  # another process downloaded it while we waited
                if not allow_text:
                    self._refuse_text(url, found[1].get("type", ""))
                return found[0]
            try:
                path, content_type = self._receive(url, allow_text, deadline,
                                                   lambda name: folder / name, heartbeat,
                                                   _CACHE_LABEL)
                self._commit(url, path, content_type)
            except BaseException:
                if _read_entry(folder) is None:  # nothing usable: leave no trace
                    _remove_trace(folder, created)
                raise
        return path

    def _commit(self, url: str, path: Path, content_type: str) -> None:
        """Write ``entry.json``: only now is the entry complete."""
        record = {"url": url, "file": path.name, "type": content_type, "fetched": time.time()}
        try:
            with atomic_output(path.parent / _ENTRY) as temporary:
                temporary.write_text(json.dumps(record))
        except OSError as error:
            raise _write_error(_CACHE_LABEL, path.parent, error, url) from None

    def _open(self, url: str) -> Any:
        request = urllib.request.Request(_with_civitai_token(url),
                                         headers={"User-Agent": "dgenerate"})
        opener = urllib.request.build_opener(_WebRedirects)
        try:
            return opener.open(request, timeout=min(_SOCKET_TIMEOUT, self.timeout))
        except urllib.error.HTTPError as error:
            error.close()
            raise DgenerateError(f"cannot download {url!r}: HTTP {error.code} {error.reason}"
                                 ) from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise DgenerateError(f"cannot download {url!r}: {reason}") from None

    def _receive(self, url: str, allow_text: bool, deadline: float,
                 place: Callable[[str], Path], heartbeat: Callable[[], None], label: str
                 ) -> tuple[Path, str]:
        """Download ``url`` to the path ``place`` gives its file name; returns that path and
        the content type. Everything is checked before the file is renamed into place."""
        with self._open(url) as response:
            content_type = response.headers.get("Content-Type", "")
            if not allow_text:
                self._refuse_text(url, content_type)
            path = place(_file_name(url, response.headers))
            announced = _announced_length(response)
            self._check_announced(url, announced, path.parent, label)
            expected = announced if _identity(response) else None
            try:
                with atomic_output(path) as temporary, open(temporary, "wb") as file:
                    self._copy(url, response, file, expected, deadline, heartbeat)
            except OSError as error:
                raise _write_error(label, path.parent, error, url) from None
        return path, content_type

    def _check_announced(self, url: str, announced: int | None, folder: Path,
                         label: str) -> None:
        """Refuse up front what the server announces as too large for the cap or the disk."""
        if announced is not None and announced > self.max_bytes:
            raise self._too_large(url, f"the server announces {_size(announced)}, more than")
        _make_folder(folder, label, url)
        if announced is None:
            return
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return
        if announced > free:
            raise DgenerateError(
                f"cannot download {url!r}: the server announces {_size(announced)} but only "
                f"{_size(free)} are free in '{folder}'; free some space, or download "
                "elsewhere (DGENERATE_CACHE chooses the cache's folder, \\download -o a path)")

    def _too_large(self, url: str, what: str) -> DgenerateError:
        return DgenerateError(
            f"cannot download {url!r}: {what} the download size limit of "
            f"{_size(self.max_bytes)}; nothing was kept. Raise the limit with "
            f"{MAX_BYTES_VARIABLE} (bytes, or a size like 500MB or 100GiB)")

    def _too_slow(self, url: str, received: int) -> DgenerateError:
        return DgenerateError(
            f"cannot download {url!r}: it took longer than the download time limit of "
            f"{self.timeout:g} seconds ({received} bytes received); nothing was kept. Raise "
            f"the limit with {TIMEOUT_VARIABLE} (seconds)")

    def _copy(self, url: str, response: Any, file: BinaryIO, expected: int | None,
              deadline: float, heartbeat: Callable[[], None]) -> None:
        """Stream the body into ``file`` within the size cap and the time limit; refuse a
        body that ended short of what was announced."""
        received = 0
        while True:
            try:
                chunk = response.read1(_CHUNK)  # one read: the deadline is checked between
            except (OSError, http.client.HTTPException) as error:
                if time.monotonic() > deadline:
                    raise self._too_slow(url, received) from None
                raise DgenerateError(
                    f"cannot download {url!r}: the connection failed after {received} bytes "
                    f"({str(error) or type(error).__name__}); nothing was kept") from None
            if not chunk:
                break
            received += len(chunk)
            if received > self.max_bytes:
                raise self._too_large(url, "the server sent more than")
            if time.monotonic() > deadline:
                raise self._too_slow(url, received)
            file.write(chunk)
            heartbeat()
        if expected is not None and received != expected:
            raise DgenerateError(
                f"cannot download {url!r}: the connection closed after {received} of the "
                f"{expected} bytes the server announced (Content-Length); nothing was kept, "
                "try again")
