"""The startup script ``~/.dgenerate/init.dgen``, run before every command.

Users put lasting set-up there (``\\env HF_HOME=...``, ``\\import_plugins ...``).
It is created, with explanatory comments only, on the first run. Problems in it
are warnings: a broken init file must not lock the user out.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from dgenerate.plugin_api.errors import DgenerateError, ScriptExit
from dgenerate.plugin_api.files import atomic_output

from .runner import ConfigRunner, ScriptSource

__all__ = ["run_startup_script", "startup_script_path"]

TEMPLATE = """\
# dgenerate runs this config script every time it starts, before anything else.
# Use it for lasting set-up; problems here are reported as warnings.
#
# Examples (remove the leading # to use one):
#
# \\env DGENERATE_CACHE=/path/to/my/cache
# \\env HF_HOME=/path/to/huggingface
# \\env HF_TOKEN=my-token
# \\env DGENERATE_OFFLINE_MODE=1
# \\env DGENERATE_WEB_CACHE_EXPIRY_DELTA=days=7
# \\import_plugins my_plugin.py
"""


def startup_script_path() -> Path:
    return Path.home() / ".dgenerate" / "init.dgen"


def _ensure(path: Path) -> None:
    if path.exists():
        return
    with contextlib.suppress(OSError):  # a read-only home must not stop dgenerate
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temporary:
            temporary.write_text(TEMPLATE)


def run_startup_script(runner: ConfigRunner) -> None:
    """Create the startup script if missing, then run it in ``runner``."""
    path = startup_script_path()
    _ensure(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return  # comments only: nothing to run
    try:
        runner.run(text, ScriptSource(str(path), str(path.parent)))
    except ScriptExit:
        pass
    except DgenerateError as error:
        print(f"dgenerate: warning: the startup script failed: {error}", file=sys.stderr)
