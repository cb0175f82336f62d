"""Shared test fixtures: installed plugin packages, the shared media folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import EXAMPLES, FIXTURES, MEDIA, pip_install_target

pytest_plugins = ["dgenerate.plugin_api.testing"]


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the pip-installable example plus a deliberately broken plugin."""
    target = tmp_path_factory.mktemp("site")
    pip_install_target(EXAMPLES / "pip_package", target)
    pip_install_target(FIXTURES / "broken_package", target)
    return target


@pytest.fixture
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.fail(f"the shared media folder {MEDIA} is missing")
    return MEDIA
