"""Writing files so that a reader never sees half of one.

Everything dgenerate writes goes through :func:`atomic_output`: the data is
written to a temporary file beside the destination and renamed over it only when
complete, so an interrupted run leaves either the old file or none.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output"]


def _umask() -> int:
    # there is no way to read the umask without setting it
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block succeeds.

    The temporary file keeps the destination's suffix so that libraries choosing
    a format by extension (Pillow, PyAV) pick the right one. On error it is removed.
    """
    destination = Path(path)
    directory = destination.parent if str(destination.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=destination.suffix or ".part", dir=directory)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        if temporary_path.exists():  # mkstemp creates 0600; give the usual permissions
            os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary_path.unlink()
        raise
