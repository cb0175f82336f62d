"""The ``#! dgenerate X.Y.Z`` line: warn when a script was written for another version.

A script names the dgenerate it was written for. It runs unchanged when that
version's config language is the one implemented here (the same major version
as :data:`~dgenerate.kernel.version.LANGUAGE_VERSION`: every 5.x script), or
when it was written by a compatible release of this program (SemVer: same
major version, and for 0.x the same minor version, not newer).
"""

from __future__ import annotations

import re

from ..version import LANGUAGE_VERSION, VERSION

__all__ = ["check_version_line"]

_LINE = re.compile(r"^#!\s*dgenerate\s+(\d+)\.(\d+)\.(\d+)\s*$")


def _parts(version: str) -> tuple[int, int, int]:
    numbers = [int(part) for part in re.findall(r"\d+", version)[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))  # type: ignore[return-value]


def _program_compatible(wanted: tuple[int, int, int], have: tuple[int, int, int]) -> bool:
    return wanted[0] == have[0] and wanted <= have and (have[0] != 0 or wanted[1] == have[1])


def check_version_line(line: str, running: str = VERSION,
                       language: str = LANGUAGE_VERSION) -> str | None:
    """A warning if ``line`` names a version whose scripts may not run here, else ``None``."""
    match = _LINE.match(line.strip())
    if not match:
        return None
    wanted = tuple(int(part) for part in match.groups())
    if wanted[0] == _parts(language)[0] or _program_compatible(wanted, _parts(running)):
        return None
    return (f"the script was written for dgenerate {'.'.join(map(str, wanted))}; this "
            f"dgenerate {running} runs scripts in the config language of dgenerate "
            f"{language} (any {_parts(language)[0]}.x), so parts of it may not work")
