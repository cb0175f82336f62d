"""The web cache stays whole: truncated, oversized, slow or malformed downloads keep nothing,
concurrent processes do not destroy each other's downloads, write errors are user errors."""

from __future__ import annotations

import errno
import gzip
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dgenerate.plugin_api import webcache
from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.webcache import WebCache, parse_max_bytes, parse_timeout

from .source_fixtures import FileServer, serve

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

needs_flock = pytest.mark.skipif(fcntl is None, reason="fcntl.flock is POSIX only")


@pytest.fixture
def server() -> Iterator[FileServer]:
    yield from serve()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DGENERATE_WEB_CACHE_MAX_BYTES", "DGENERATE_WEB_DOWNLOAD_TIMEOUT",
                 "DGENERATE_WEB_CACHE_EXPIRY_DELTA", "CIVIT_AI_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def leftovers(cache: Path) -> list[str]:
    """Everything under the cache's web folder (nothing, after a failed download)."""
    web = cache / "web"
    return sorted(str(path.relative_to(web)) for path in web.rglob("*")) if web.exists() else []


def refused(cache: WebCache, url: str, *mentions: str) -> str:
    with pytest.raises(DgenerateError) as caught:
        cache.fetch(url)
    message = str(caught.value)
    assert repr(url) in message
    for mention in mentions:
        assert mention in message
    return message


def age(folder: Path, seconds: float) -> None:
    """Make everything in an entry folder look untouched for ``seconds``."""
    then = time.time() - seconds
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (then, then))


def lock_held(lock: Path) -> bool:
    """Whether another open file holds the flock on ``lock``."""
    if not lock.exists():
        return False
    descriptor = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


# --------------------------------------------------------------- 1. truncation


def test_a_body_shorter_than_announced_is_not_kept(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/short.bin", b"0123456789", length=1000)
    cache = WebCache(tmp_path / "cache")
    refused(cache, url, "10 of the 1000 bytes")
    assert cache.cached(url) is None
    assert list(tmp_path.iterdir()) == []  # not even the cache folders it made
    cache = WebCache(tmp_path)
    server.add("/short.bin", b"0123456789")  # the server recovers: downloaded whole
    assert Path(cache.fetch(url)).read_bytes() == b"0123456789"


def test_a_broken_chunked_body_is_not_kept(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/chunked.bin", b"a\r\nhel", length=-1,
                     headers={"Transfer-Encoding": "chunked"})
    refused(WebCache(tmp_path), url, "connection failed after")
    assert leftovers(tmp_path) == []


def test_a_connection_reset_midway_is_not_kept(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/reset.bin", b"x" * 16, length=-1, chunk=4, delay=0.02, reset=True)
    refused(WebCache(tmp_path), url, "connection failed after")
    assert leftovers(tmp_path) == []


def test_encoded_bodies_are_stored_as_sent(tmp_path: Path, server: FileServer) -> None:
    body = gzip.compress(b"weights" * 100)
    url = server.add("/packed.bin", body, headers={"Content-Encoding": "gzip"})
    assert Path(WebCache(tmp_path).fetch(url)).read_bytes() == body


def test_text_is_refused_before_the_entry_is_committed(tmp_path: Path,
                                                       server: FileServer) -> None:
    url = server.add("/page", b"<html></html>", headers={"Content-Type": "text/html"})
    cache = WebCache(tmp_path)
    with pytest.raises(DgenerateError, match="sent text"):
        cache.download(url)
    assert cache.cached(url) is None and leftovers(tmp_path) == []
    assert Path(cache.download(url, text=True)).read_bytes() == b"<html></html>"
    with pytest.raises(DgenerateError, match="sent text"):  # the recorded type is checked
        cache.download(url)
    assert server.hits["/page"] == 2


# ------------------------------------------------------------ 3. size and time


@pytest.mark.parametrize(("text", "size"), [
    (None, 64 * 2 ** 30), ("", 64 * 2 ** 30), ("1048576", 1048576), ("500MB", 500 * 10 ** 6),
    ("2GiB", 2 * 2 ** 30), ("1.5KiB", 1536), (" 10 kb ", 10_000), ("3b", 3)])
def test_max_bytes_values(text: str | None, size: int) -> None:
    assert parse_max_bytes(text) == size


@pytest.mark.parametrize("text", ["none", "0", "-1", "0.1", "abc", "5XB", "1e9", "inf"])
def test_bad_max_bytes_values(text: str, monkeypatch: pytest.MonkeyPatch,
                              tmp_path: Path) -> None:
    monkeypatch.setenv("DGENERATE_WEB_CACHE_MAX_BYTES", text)
    with pytest.raises(DgenerateError) as caught:
        WebCache(tmp_path)
    assert "DGENERATE_WEB_CACHE_MAX_BYTES" in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(("text", "seconds"), [(None, 6 * 3600.0), ("", 6 * 3600.0),
                                               ("1", 1.0), ("0.5", 0.5)])
def test_timeout_values(text: str | None, seconds: float) -> None:
    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", ["0", "-3", "inf", "nan", "soon", "none"])
def test_bad_timeout_values(text: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DGENERATE_WEB_DOWNLOAD_TIMEOUT", text)
    with pytest.raises(DgenerateError) as caught:
        WebCache(tmp_path)
    assert "DGENERATE_WEB_DOWNLOAD_TIMEOUT" in str(caught.value)
    assert repr(text) in str(caught.value)


def test_an_announced_size_over_the_cap_is_refused_up_front(
        tmp_path: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGENERATE_WEB_CACHE_MAX_BYTES", "1KiB")
    url = server.add("/big.bin", b"x" * 2048)
    refused(WebCache(tmp_path), url, "announces 2 KiB (2048 bytes)", "1 KiB (1024 bytes)",
            "DGENERATE_WEB_CACHE_MAX_BYTES")
    assert leftovers(tmp_path) == []
    # the default cap (64 GiB) refuses a huge announcement before a byte is read
    monkeypatch.delenv("DGENERATE_WEB_CACHE_MAX_BYTES")
    huge = server.add("/huge.bin", b"tiny", length=2 ** 50)
    refused(WebCache(tmp_path), huge, "64 GiB")


def test_a_body_over_the_cap_is_refused_while_streaming(
        tmp_path: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGENERATE_WEB_CACHE_MAX_BYTES", "1000")
    url = server.add("/unannounced.bin", b"x" * 4096, length=-1)
    refused(WebCache(tmp_path), url, "sent more than", "1000 bytes",
            "DGENERATE_WEB_CACHE_MAX_BYTES")
    assert leftovers(tmp_path) == []


def test_too_little_disk_space_is_refused_up_front(
        tmp_path: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    real = webcache.shutil.disk_usage

    def small_disk(path: Any) -> Any:
        return real(path)._replace(free=100)

    monkeypatch.setattr(webcache.shutil, "disk_usage", small_disk)
    url = server.add("/model.bin", b"x" * 1000)
    refused(WebCache(tmp_path), url, "only 100 bytes are free", str(tmp_path / "web"))
    assert leftovers(tmp_path) == []


def test_a_trickle_is_stopped_by_the_deadline(tmp_path: Path, server: FileServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGENERATE_WEB_DOWNLOAD_TIMEOUT", "0.5")
    url = server.add("/trickle.bin", b"x" * 100, chunk=1, delay=0.03)  # 3 seconds in all
    start = time.monotonic()
    refused(WebCache(tmp_path), url, "0.5 seconds", "DGENERATE_WEB_DOWNLOAD_TIMEOUT")
    assert time.monotonic() - start < 2
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------- 4. malformed URLs


@pytest.mark.parametrize("url", [
    "http://[::1", "http:///nothing", "https://", "http://exa mple.com/x", "ftp://x/y",
    "file:///etc/passwd", "http://x:99999/y", "http://x:port/y", "", "not a url",
    "http://host/a\nb"])
def test_malformed_urls_are_user_errors(url: str, tmp_path: Path) -> None:
    cache = WebCache(tmp_path)
    for attempt in (lambda: cache.fetch(url), lambda: cache.download(url),
                    lambda: cache.download(url, "out/", base_dir=str(tmp_path))):
        with pytest.raises(DgenerateError) as caught:
            attempt()
        assert repr(url) in str(caught.value)


def test_redirects_lead_to_http_only(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/moved", b"", 302, {"Location": "ftp://127.0.0.1:9/x"})
    refused(WebCache(tmp_path), url, "'ftp://127.0.0.1:9/x', not an http(s) URL")
    target = server.add("/here.bin", b"here")
    moved = server.add("/moved-too", b"", 302, {"Location": target})
    assert Path(WebCache(tmp_path).fetch(moved)).read_bytes() == b"here"


# ---------------------------------------------------------------- 5. write errors


def test_a_cache_folder_that_cannot_be_made(tmp_path: Path, server: FileServer) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    url = server.add("/w.bin", b"w")
    with pytest.raises(DgenerateError, match="cannot write the web cache folder") as caught:
        WebCache(blocker).fetch(url)
    assert str(blocker / "web") in str(caught.value)


def test_a_read_only_cache_folder(tmp_path: Path, server: FileServer) -> None:
    web = tmp_path / "web"
    web.mkdir()
    url = server.add("/w.bin", b"w")
    web.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anyway: the download succeeds
            assert Path(WebCache(tmp_path).fetch(url)).read_bytes() == b"w"
        else:
            with pytest.raises(DgenerateError, match="cannot write the web cache folder") as e:
                WebCache(tmp_path).fetch(url)
            assert str(web) in str(e.value)
    finally:
        web.chmod(0o755)


class FullDisk:
    """``open`` for the webcache module, whose files fail as a full disk does."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, path: Any, mode: str = "r", *arguments: Any) -> Any:
        file = open(path, mode, *arguments)  # noqa: SIM115 - wrapped, closed by the caller
        if "w" in mode:
            real_write, budget = file.write, [self.after]

            def write(data: bytes) -> int:
                if len(data) > budget[0]:
                    raise OSError(errno.ENOSPC, "No space left on device")
                budget[0] -= len(data)
                return real_write(data)

            file.write = write
        return file


def test_a_full_disk_keeps_nothing(tmp_path: Path, server: FileServer,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webcache, "open", FullDisk(after=0), raising=False)
    url = server.add("/w.bin", b"weights")
    cache = WebCache(tmp_path)
    message = refused(cache, url, "cannot write the web cache folder",
                      "[Errno 28] No space left on device")
    assert str(cache._folder(url)) in message
    assert leftovers(tmp_path) == []
    output = tmp_path / "models"
    with pytest.raises(DgenerateError, match="No space left on device") as caught:
        cache.download(url, "models/", base_dir=str(tmp_path))
    assert str(output) in str(caught.value) and list(output.iterdir()) == []


# ------------------------------------------------------------ 2. concurrent use


def test_prune_removes_only_abandoned_broken_entries(tmp_path: Path) -> None:
    web = tmp_path / "web"
    fresh, stale = web / "fresh", web / "stale"
    for folder in (fresh, stale):
        folder.mkdir(parents=True)
        (folder / ".model.bin.x1y2").write_bytes(b"half")
    age(stale, 2 * 3600)
    WebCache(tmp_path).prune()
    assert fresh.is_dir() and not stale.exists()


@needs_flock
def test_prune_leaves_locked_entries_alone(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/w.bin", b"w")
    folder = WebCache(tmp_path)._folder(url)
    folder.mkdir(parents=True)
    (folder / ".w.bin.part").write_bytes(b"half")
    (folder / ".lock").write_text("")
    age(folder, 2 * 3600)  # a download stuck in a slow read, say
    descriptor = os.open(folder / ".lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        WebCache(tmp_path).prune()
        assert (folder / ".w.bin.part").exists()
    finally:
        os.close(descriptor)
    WebCache(tmp_path).prune()
    assert not folder.exists()


@needs_flock
def test_waiting_for_another_download_is_bounded(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/w.bin", b"w")
    folder = WebCache(tmp_path)._folder(url)
    folder.mkdir(parents=True)
    descriptor = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with pytest.raises(DgenerateError, match="another process") as caught:
            WebCache(tmp_path, timeout=0.3).fetch(url)
        assert "DGENERATE_WEB_DOWNLOAD_TIMEOUT" in str(caught.value)
    finally:
        os.close(descriptor)
    assert "/w.bin" not in server.hits


def test_two_downloads_of_one_url_at_once(tmp_path: Path, server: FileServer) -> None:
    body = bytes(range(256)) * 4
    url = server.add("/slow/model.bin", body, chunk=128, delay=0.05)  # about 0.4 s
    results: dict[int, str | BaseException] = {}

    def fetch(number: int) -> None:
        try:
            results[number] = WebCache(tmp_path).fetch(url)
        except BaseException as error:  # reported below
            results[number] = error

    threads = [threading.Thread(target=fetch, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    time.sleep(0.15)
    WebCache(tmp_path).prune()  # a third user's cleanup, mid-download
    for thread in threads:
        thread.join(timeout=10)
    assert isinstance(results[1], str) and results[1] == results[2], results
    assert Path(results[1]).read_bytes() == body
    if fcntl is not None:  # the second waited for the first, then reused its file
        assert server.hits["/slow/model.bin"] == 1


@needs_flock
def test_another_process_neither_deletes_nor_duplicates_a_download(
        tmp_path: Path, server: FileServer) -> None:
    body = b"m" * 2000
    url = server.add("/slow/other.bin", body, chunk=200, delay=0.1)  # about 1 s
    code = ("import sys\nfrom pathlib import Path\nfrom dgenerate.plugin_api.webcache import "
            "WebCache\nprint(WebCache(Path(sys.argv[1])).fetch(sys.argv[2]))\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = WebCache(tmp_path)._folder(url) / ".lock"
        deadline = time.monotonic() + 20
        while not lock_held(lock):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.02)
        # an hour-old look does not fool prune while the lock is held
        age(lock.parent, 2 * 3600)
        WebCache(tmp_path).prune()
        assert lock.parent.is_dir()
        mine = WebCache(tmp_path).fetch(url)  # waits for the other process, then reuses
        theirs, errors = process.communicate(timeout=20)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, errors
    assert theirs.strip() == mine and Path(mine).read_bytes() == body
    assert server.hits["/slow/other.bin"] == 1


def test_without_flock_an_in_progress_marker_keeps_prune_away(
        tmp_path: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webcache, "fcntl", None)
    url = server.add("/w.bin", b"w")
    cache = WebCache(tmp_path)
    path = Path(cache.fetch(url))
    assert path.read_bytes() == b"w" and not (path.parent / ".lock").exists()
    # an interrupted download elsewhere: broken, untouched for hours, but marked recently
    folder = tmp_path / "web" / "elsewhere"
    folder.mkdir()
    (folder / ".x.part").write_bytes(b"half")
    age(folder, 2 * 3600)
    (folder / ".lock").write_text("12345 0\n")
    WebCache(tmp_path).prune()
    assert folder.is_dir()
    age(folder, 2 * 3600)  # the marker is not refreshed any more: abandoned
    WebCache(tmp_path).prune()
    assert not folder.exists() and path.is_file()
