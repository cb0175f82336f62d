"""plugin_api.testing: the helpers offered to plugin authors work, and can fail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dgenerate.plugin_api import Category
from dgenerate.plugin_api.testing import (
    assert_import_light,
    isolated_plugin_manager,
    run_cli,
    validate_plugin,
)


def write(path: Path, code: str) -> str:
    path.write_text("from dgenerate.plugin_api import *\n" + textwrap.dedent(code))
    return str(path)


def test_fixture_is_isolated_with_builtins(plugin_manager) -> None:
    from dgenerate.kernel.plugins.sources import entry_point_sources

    builtin = {source.name for source in entry_point_sources() if source.origin == "builtin"}
    assert {"image-ops", "stable-diffusion", "config-directives", "template-functions",
            "image-process"} <= builtin
    assert set(plugin_manager.plugins) == builtin  # nothing third-party
    assert {"flip", "canny"} <= set(plugin_manager.registry(Category.IMAGE_PROCESSOR).names())


def test_isolated_manager_without_builtins() -> None:
    assert isolated_plugin_manager(builtins=False).plugins == {}


def test_validate_plugin_reports_every_problem(tmp_path: Path) -> None:
    plugin = write(tmp_path / "faulty.py", """
        class NotAProcessor:
            pass

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="wrong-base", summary="s", target=NotAProcessor)
            yield ImageProcessorSpec(name="missing", summary="s", target="nowhere_xyz:Thing")

        @hookimpl
        def dgenerate_template_functions():
            yield TemplateFunctionSpec(name="not_callable", summary="s", target=":VALUE")

        VALUE = 3
        """)
    with pytest.raises(AssertionError) as raised:
        validate_plugin(plugin)
    message = str(raised.value)
    assert "image processor 'wrong-base': target" in message
    assert "is not a subclass of ImageProcessor" in message
    assert "image processor 'missing'" in message and "ModuleNotFoundError" in message
    assert "template function 'not_callable': target ':VALUE' is not callable" in message


def test_validate_plugin_reports_clashes_with_builtins(tmp_path: Path) -> None:
    plugin = write(tmp_path / "clash.py", """
        class Flip(ImageProcessor):
            def process(self, image):
                return image

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="flip", summary="s", target=Flip)
        """)
    with pytest.raises(AssertionError, match="two plugins provide the image processor 'flip'"):
        validate_plugin(plugin)


def test_validate_plugin_rejects_an_empty_plugin(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="contributes nothing"):
        validate_plugin(write(tmp_path / "empty.py", "X = 1\n"))


def test_assert_import_light_on_modules(tmp_path: Path) -> None:
    assert_import_light("json")
    with pytest.raises(AssertionError, match="importing email.mime.text imported email"):
        assert_import_light("email.mime.text", forbidden=("email",))


def test_run_cli_captures_output_and_environment() -> None:
    result = run_cli("--image-processor-help",
                     env={"DGENERATE_DISABLE_PLUGINS": "image-ops, upscaler"})
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["Available image processors:", "    (none installed)"]
    failed = run_cli("--image-processor-help", "nope")
    assert failed.exit_code == 1 and "unknown image processor 'nope'" in failed.stderr
