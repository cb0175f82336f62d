"""The ``#! dgenerate X.Y.Z`` line: warn when a script was written for another version."""

from __future__ import annotations

import re

from ..version import VERSION

__all__ = ["check_version_line"]

_LINE = re.compile(r"^#!\s*dgenerate\s+(\d+)\.(\d+)\.(\d+)\s*$")


def _parts(version: str) -> tuple[int, int, int]:
    numbers = [int(part) for part in re.findall(r"\d+", version)[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))  # type: ignore[return-value]


def check_version_line(line: str, running: str = VERSION) -> str | None:
    """A warning if ``line`` names a version incompatible with ``running`` (SemVer:
    same major version, and for 0.x the same minor version), else ``None``."""
    match = _LINE.match(line.strip())
    if not match:
        return None
    wanted = tuple(int(part) for part in match.groups())
    have = _parts(running)
    compatible = wanted[0] == have[0] and wanted <= have and (
        have[0] != 0 or wanted[1] == have[1])
    if compatible:
        return None
    return (f"the script was written for dgenerate {'.'.join(map(str, wanted))}, which is not "
            f"compatible with this dgenerate {running}")
