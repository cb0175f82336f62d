"""Start-up stays light: help, listings and registration modules never import heavy libraries.

Each check runs in a fresh interpreter and inspects ``sys.modules`` there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dgenerate.kernel.cli.help_options import HELP_OPTIONS
from dgenerate.kernel.plugins.sources import entry_point_sources
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light

from .support import EXAMPLES

# pure-Python example plugins: their detailed help must stay light as well
PURE_PLUGINS = [
    str(EXAMPLES / "config_directive"),
    str(EXAMPLES / "template_function" / "text_functions.py"),
    str(EXAMPLES / "sub_command" / "image_info.py"),
    str(EXAMPLES / "cli_option" / "greeting.py"),
]
EVERY_EXAMPLE = [*PURE_PLUGINS, str(EXAMPLES / "image_processor")]

DETAILS = {
    "--directives-help": ["repeat"],
    "--functions-help": ["pluralize", "title_words"],
    "--sub-command-help": ["image-info"],
    "--templates-help": ["last_verbose", "injected_args"],
}

ENV = {"DGENERATE_DISABLE_PLUGINS": ""}


def test_heavy_modules_are_installed() -> None:
    """The checks below mean something only if the heavy libraries could be imported."""
    import importlib.util

    assert all(importlib.util.find_spec(module) for module in ("torch", "diffusers",
                                                               "transformers", "cv2"))


@pytest.mark.parametrize("module", ["dgenerate.plugin_api", "dgenerate.plugin_api.testing",
                                    "dgenerate.kernel.cli.main", "dgenerate.kernel.uri"])
def test_core_modules_are_light(module: str) -> None:
    assert_import_light(module, env=ENV)


@pytest.mark.parametrize("source", entry_point_sources(), ids=lambda source: source.name)
def test_builtin_registration_modules_are_light(source) -> None:
    assert_import_light(source.value, env=ENV)


def test_help_is_light() -> None:
    assert_import_light(["--plugin-modules", *EVERY_EXAMPLE, "--help"], env=ENV)


def test_model_type_listing_is_light() -> None:
    assert_import_light(["--model-type", "help"], env=ENV)


@pytest.mark.parametrize("option", [option.flag for option in HELP_OPTIONS])
def test_every_listing_is_light(option: str) -> None:
    assert_import_light(["--plugin-modules", *EVERY_EXAMPLE, option], env=ENV)


@pytest.mark.parametrize(("option", "names"), sorted(DETAILS.items()))
def test_detailed_help_of_pure_python_plugins_is_light(option: str, names: list[str]) -> None:
    assert_import_light(["--plugin-modules", *PURE_PLUGINS, option, *names], env=ENV)


def test_builtin_image_processor_details_are_light() -> None:
    assert_import_light(["--image-processor-help", "flip", "mirror", "grayscale", "invert"],
                        env=ENV)


def test_the_check_detects_a_heavy_registration_module(tmp_path: Path) -> None:
    heavy = tmp_path / "heavy_plugin.py"
    heavy.write_text("import cv2\nfrom dgenerate.plugin_api import hookimpl\n\n@hookimpl\n"
                     "def dgenerate_configure():\n    pass\n")
    with pytest.raises(AssertionError, match=r"imported cv2"):
        assert_import_light(["--plugin-modules", str(heavy), "--image-processor-help"],
                            env=ENV)
    assert "cv2" in HEAVY_MODULES
