"""Paths and helpers shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: conftest imports this module before pytest loads
    # dgenerate.plugin_api.testing as its plugin, which must come first to be assert-rewritten
    from dgenerate.plugin_api.testing import CliResult

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "writing_plugins"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: photos, masks and animations the tests and docs use (copies kept in the repository)
MEDIA = REPO / "examples" / "media"
DGENERATE = Path(sys.executable).with_name("dgenerate")
#: only the builtin plugins (none that happen to be installed beside them)
BUILTIN_ONLY = {"DGENERATE_DISABLE_PLUGINS": "*"}


def render_quick(model: str | Path, out: Path, *args: str) -> CliResult:
    """Render ``model`` with 2 inference steps into ``out``, in process."""
    from dgenerate.plugin_api.testing import run_cli

    return run_cli(str(model), "--output-path", str(out), "--inference-steps", "2", *args,
                   env=BUILTIN_ONLY)


def render_ok(model: str | Path, out: Path, *args: str) -> CliResult:
    """:func:`render_quick` that must succeed."""
    result = render_quick(model, out, *args)
    assert result.exit_code == 0, result.stderr
    return result


def names(folder: Path) -> list[str]:
    """The names of the files in ``folder``, sorted."""
    return sorted(path.name for path in folder.iterdir())


def clean_environment(**changes: str) -> dict[str, str]:
    """The current environment without dgenerate's plugin switches, plus ``changes``."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("DGENERATE_")}
    environment.update(changes)
    return environment


def run_dgenerate(*args: str, env: dict[str, str] | None = None,
                  cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``dgenerate`` console script in a subprocess."""
    return subprocess.run(
        [str(DGENERATE), *args], capture_output=True, text=True, check=False,
        env=env if env is not None else clean_environment(), cwd=cwd,
        stdin=subprocess.DEVNULL, timeout=120)


def pip_install_target(project: Path, target: Path) -> None:
    """Install a plugin project into ``target`` (put on PYTHONPATH to make it "installed")."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(project)],
        check=True, capture_output=True, text=True)
