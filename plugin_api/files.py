"""Writing files so that a reader never sees half of one, and no writer loses another's file.

Everything dgenerate writes goes through :func:`atomic_output`: the data is
written to a temporary file beside the destination and renamed over it only when
complete, so an interrupted run leaves either the old file or none.

When files must not overwrite what is there (``_duplicate_N`` naming), the
final name is *claimed* only when the file is complete, by an operation that
fails if the name exists (a hard link, else an exclusive create): two processes
writing the same names into one folder each keep their files, under different
names. Checking "does the name exist?" first and renaming later loses one.

Temporary names carry the host and process that made them, so that the
leftovers of a killed run (``kill -9``, a power cut) can be recognised and
removed by a later one (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DgenerateError, WriteError

__all__ = [
    "NewFile",
    "atomic_new_file",
    "atomic_output",
    "duplicate_names",
    "remove_stale_temporaries",
    "temporary_prefix",
]

#: a temporary older than this is stale whoever made it (another host's, a reused pid)
STALE_AFTER_SECONDS = 24 * 3600
_MARK = re.compile(r"\.~dgtmp-(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]*)~")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:32]


def temporary_prefix(stem: str) -> str:
    """The start of a temporary name for a file called ``stem``: hidden, and marked with
    this host and process."""
    return f".{stem}.~dgtmp-{os.getpid()}-{_host()}~"


def _umask() -> int:
    # there is no way to read the umask without setting it
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary(destination: Path) -> Path:
    directory = destination.parent if str(destination.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=temporary_prefix(destination.stem), suffix=destination.suffix or ".part",
            dir=directory)
    except OSError as error:
        raise WriteError(destination, error) from error
    os.close(handle)
    return Path(temporary)


def _finish(temporary: Path) -> None:
    if temporary.exists():  # mkstemp creates 0600; give the usual permissions
        os.chmod(temporary, 0o666 & ~_umask())


@contextlib.contextmanager
def _cleaned(temporary: Path, destination: Path) -> Iterator[None]:
    """Remove ``temporary`` if the block fails; an ``OSError`` becomes a :class:`WriteError`
    naming ``destination``."""
    try:
        yield
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        if isinstance(error, OSError) and not isinstance(error, DgenerateError):
            raise WriteError(destination, error) from error
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block succeeds
    (replacing what is there).

    The temporary file keeps the destination's suffix so that libraries choosing
    a format by extension (Pillow, PyAV) pick the right one. On error it is removed;
    an ``OSError`` (disk full, read-only folder) is raised as :class:`WriteError`.
    """
    destination = Path(path)
    temporary = _temporary(destination)
    with _cleaned(temporary, destination):
        yield temporary
        _finish(temporary)
        os.replace(temporary, destination)


def duplicate_names(path: str | os.PathLike[str]) -> Iterator[Path]:
    """``path``, then ``stem_duplicate_1.ext``, ``stem_duplicate_2.ext`` ... (endless)."""
    path = Path(path)
    yield path
    number = 1
    while True:
        yield path.with_name(f"{path.stem}_duplicate_{number}{path.suffix}")
        number += 1


@dataclasses.dataclass
class NewFile:
    """What :func:`atomic_new_file` yields: write ``temporary``; after the block ``path`` is
    the name the file was published under."""

    temporary: Path
    path: Path


def _claim(temporary: Path, candidate: Path) -> bool:
    """Publish ``temporary`` as ``candidate`` unless that name exists (atomically); False
    when it does."""
    try:
        os.link(temporary, candidate)
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                               errno.EMLINK, errno.ENOSYS, errno.EACCES):
            raise
        # no hard links here (FAT, some network file systems): claim the name with an
        # exclusive create, then move the complete file over the empty placeholder
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        os.replace(temporary, candidate)
        return True
    temporary.unlink()
    return True


@contextlib.contextmanager
def atomic_new_file(path: str | os.PathLike[str],
                    names: Iterable[str | os.PathLike[str]] | None = None) -> Iterator[NewFile]:
    """Like :func:`atomic_output`, but never replaces an existing file: the complete file
    is published under the first of ``names`` (default :func:`duplicate_names` of ``path``)
    that does not exist at that moment. ``NewFile.path`` says which."""
    destination = Path(path)
    temporary = _temporary(destination)
    new_file = NewFile(temporary, destination)
    with _cleaned(temporary, destination):
        yield new_file
        _finish(temporary)
        for candidate in (duplicate_names(destination) if names is None else names):
            if _claim(temporary, Path(candidate)):
                new_file.path = Path(candidate)
                return


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would end the process there: trust age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _stale(entry: Path, now: float) -> bool:
    match = _MARK.search(entry.name)
    if match is None or not entry.name.startswith("."):
        return False
    try:
        age = now - entry.lstat().st_mtime
    except OSError:
        return False
    if age > STALE_AFTER_SECONDS:
        return True
    return match.group("host") == _host() and not _alive(int(match.group("pid")))


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files (and frame folders) that killed dgenerate runs left in
    ``folder``: those of processes of this host that no longer run, and any older than a
    day. Files of running processes are left alone. Returns what was removed."""
    removed = []
    now = time.time()
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not _stale(entry, now):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed
