"""``DGENERATE_API_VERSION``: a plugin states the plugin API it was written against."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dgenerate.kernel.plugins.manager import PluginManager
from dgenerate.kernel.plugins.sources import Origin, PluginSource
from dgenerate.kernel.version import dgenerate_version
from dgenerate.plugin_api import API_VERSION, API_VERSION_STRING, Category
from dgenerate.plugin_api.errors import PluginLoadError
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY


def plugin(folder: Path, name: str, version: object) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(f"""
        from dgenerate.plugin_api import ImageProcessor, ImageProcessorSpec, hookimpl

        DGENERATE_API_VERSION = {version!r}

        class Same(ImageProcessor):
            def process(self, image):
                return image

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name={name!r}, summary="test", target=":Same")
        """))
    return path


def loaded(path: Path, *, requested: bool) -> tuple[PluginManager, list[str]]:
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append, environ={})
    manager.load(PluginSource(path.stem, Origin.PATH, str(path), requested=requested))
    return manager, warnings


def test_the_api_version_is_0_3() -> None:
    assert API_VERSION == (0, 3) and API_VERSION_STRING == "0.3"


@pytest.mark.parametrize("version", ["0.3", "0.0", "0.1", " 0.2 "])
def test_a_plugin_for_this_or_an_older_minor_version_loads(tmp_path: Path,
                                                           version: str) -> None:
    manager, warnings = loaded(plugin(tmp_path, "fits", version), requested=True)
    assert warnings == []
    assert "fits" in manager.registry(Category.IMAGE_PROCESSOR).names()


def test_a_plugin_that_states_nothing_loads(tmp_path: Path) -> None:
    path = plugin(tmp_path, "silent", None)
    path.write_text(path.read_text().replace("DGENERATE_API_VERSION = None\n", ""))
    manager, warnings = loaded(path, requested=True)
    assert warnings == [] and "silent" in manager.plugins


@pytest.mark.parametrize(("version", "advice"), [
    ("0.4", "upgrade dgenerate"),
    ("1.0", "upgrade dgenerate"),
    ("0.30", "upgrade dgenerate"),  # minor 30, not 0.3
])
def test_a_requested_plugin_for_a_newer_api_is_an_error(tmp_path: Path, version: str,
                                                        advice: str) -> None:
    path = plugin(tmp_path, "future", version)
    with pytest.raises(PluginLoadError) as raised:
        loaded(path, requested=True)
    assert str(raised.value) == (
        f"plugin 'future' ({path}) needs plugin API {version} (DGENERATE_API_VERSION), but "
        f"dgenerate {dgenerate_version()} provides plugin API {API_VERSION_STRING}; {advice}")


def test_an_autoloaded_plugin_for_a_newer_api_is_a_warning(tmp_path: Path) -> None:
    manager, warnings = loaded(plugin(tmp_path, "future", "0.9"), requested=False)
    assert "future" not in manager.plugins
    [warning] = warnings
    assert "plugin 'future'" in warning and "needs plugin API 0.9" in warning
    assert f"provides plugin API {API_VERSION_STRING}" in warning
    assert "set DGENERATE_DISABLE_PLUGINS=future" in warning
    assert "future" not in manager.registry(Category.IMAGE_PROCESSOR).names()


@pytest.mark.parametrize("version", ["0", "0.3.1", "zero.three", "", 0.3, (0, 3)])
def test_a_malformed_version_is_named(tmp_path: Path, version: object) -> None:
    with pytest.raises(PluginLoadError, match=r"states DGENERATE_API_VERSION = .*, which is "
                                              r"not a version MAJOR\.MINOR such as '0\.3'"):
        loaded(plugin(tmp_path, "odd", version), requested=True)


def test_the_command_line_names_the_plugin_and_both_versions(tmp_path: Path) -> None:
    path = plugin(tmp_path, "future", "0.7")
    result = run_cli("--plugin-modules", str(path), "--image-processor-help", env=BUILTIN_ONLY)
    assert result.exit_code == 1
    assert "plugin 'future'" in result.stderr and "needs plugin API 0.7" in result.stderr
    assert f"provides plugin API {API_VERSION_STRING}" in result.stderr


def test_the_builtin_freeu_plugin_states_its_version_and_loads() -> None:
    manager = isolated_plugin_manager()
    assert manager.plugins["freeu"].module.DGENERATE_API_VERSION == "0.3"
    assert manager.warnings == []
