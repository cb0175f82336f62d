"""Model builders shared by the benchmarks (the test suite's tiny-model builder)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.tiny_models import build_sd, build_sdxl  # noqa: E402

__all__ = ["build_sd", "model_folder", "sdxl_folder"]


def model_folder(name: str, **options) -> Path:
    """Build (once) a random-weight SD 1.x model under bench/.models/NAME."""
    folder = REPO / "bench" / ".models" / name
    if not (folder / "model_index.json").exists():
        build_sd(folder, **options)
    return folder


def sdxl_folder(name: str) -> Path:
    """Build (once) the tiny random-weight SDXL model under bench/.models/NAME."""
    folder = REPO / "bench" / ".models" / name
    if not (folder / "model_index.json").exists():
        build_sdxl(folder)
    return folder
