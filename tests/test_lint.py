"""The code base is ruff clean (configuration in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from .support import REPO


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
