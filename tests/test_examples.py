"""Every example in examples/writing_plugins validates and does what its docs say."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.plugins.targets import resolve_target
from dgenerate.plugin_api import Category
from dgenerate.plugin_api.errors import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import (
    assert_import_light,
    check_model_type,
    isolated_plugin_manager,
    run_cli,
    validate_plugin,
)

from .support import BUILTIN_ONLY, EXAMPLES

EXAMPLE_PLUGINS = {
    "image_processor": ["sepia"],
    "sub_command/image_info.py": ["image-info"],
    "template_function/text_functions.py": ["pluralize", "title_words"],
    "config_directive": ["repeat"],
    "cli_option/greeting.py": [],  # behaviour hooks only
    "model_type": ["sd-ddim-eta"],
}


@pytest.mark.parametrize(("path", "names"), sorted(EXAMPLE_PLUGINS.items()))
def test_example_validates(path: str, names: list[str]) -> None:
    specs = validate_plugin(str(EXAMPLES / path))
    assert sorted(spec.name for spec in specs) == sorted(names)


def test_every_example_is_tested_and_listed_in_the_readme() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for entry in sorted(EXAMPLES.iterdir()):
        if entry.name == "README.md":
            continue
        assert f"`{entry.name}" in readme, entry.name
        assert any(key.startswith(entry.name)
                   for key in [*EXAMPLE_PLUGINS, "pip_package"])


def test_installed_package_validates(installed_plugins: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed_plugins))
    specs = validate_plugin("dgenerate_pixelate.register")
    assert [spec.name for spec in specs] == ["pixelate"]


def test_installing_the_package_leaves_dgenerate_alone(tmp_path: Path) -> None:
    """The example does not depend on "dgenerate": `pip install -U` of it could otherwise
    replace the installed dgenerate with an unrelated release of that name from an index."""
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--upgrade", "--no-index",
         "--no-build-isolation", "--quiet", "--disable-pip-version-check", "--report",
         str(report), str(EXAMPLES / "pip_package")], check=True, capture_output=True)
    installs = json.loads(report.read_text())["install"]
    assert [item["metadata"]["name"] for item in installs] == ["dgenerate-pixelate"]
    requirements = installs[0]["metadata"].get("requires_dist") or []
    assert not [line for line in requirements
                if re.match(r"dgenerate\b(?![-_.])", line.strip(), re.IGNORECASE)]


def context_with(*plugins: str) -> KernelContext:
    manager = isolated_plugin_manager(plugins=[str(EXAMPLES / plugin) for plugin in plugins])
    return KernelContext(manager)


def test_sepia(media: Path) -> None:
    context = context_with("image_processor")
    with Image.open(media / "horse1.jpg") as image:
        horse = image.convert("RGB")
    tinted = np.asarray(context.create(Category.IMAGE_PROCESSOR, "sepia")(horse)).astype(int)
    assert (tinted[..., 0] >= tinted[..., 2]).mean() > 0.99  # warm: red over blue everywhere
    half = context.create(Category.IMAGE_PROCESSOR, "sepia;strength=0")(horse)
    assert np.array_equal(np.asarray(half), np.asarray(horse))
    with pytest.raises(PluginArgumentError, match="strength 2.0 must be between 0 and 1"):
        context.create(Category.IMAGE_PROCESSOR, "sepia;strength=2")


def test_pixelate_blocks(installed_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed_plugins))
    context = KernelContext(isolated_plugin_manager(plugins=["dgenerate_pixelate.register"]))
    image = Image.fromarray(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3))
    result = np.asarray(context.create(Category.IMAGE_PROCESSOR, "pixelate;block=4")(image))
    assert result.shape == (16, 16, 3)
    assert all(len(np.unique(result[y:y + 4, x:x + 4].reshape(-1, 3), axis=0)) == 1
               for y in range(0, 16, 4) for x in range(0, 16, 4))


def test_template_functions() -> None:
    registry = context_with("template_function/text_functions.py").manager.registry(
        Category.TEMPLATE_FUNCTION)
    pluralize = resolve_target(registry.get("pluralize"))
    assert [pluralize("cat"), pluralize("box"), pluralize("cat", 1)] == ["cats", "boxes", "cat"]
    assert resolve_target(registry.get("title_words"))("a red  cat") == "A Red Cat"


def test_directive(capsys: pytest.CaptureFixture[str]) -> None:
    context = context_with("config_directive")
    repeat = resolve_target(context.manager.registry(Category.DIRECTIVE).get("\\repeat"))
    assert repeat(context, ["2", "hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\nhello world\n"
    with pytest.raises(DgenerateError, match="usage is"):
        repeat(context, ["x"])




# ------------------------------------------------------------ the model type example

MODEL_TYPE = str(EXAMPLES / "model_type")


def pixels_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def render_eta(model: Path, out: Path, *args: str):
    return run_cli(str(model), "--plugin-modules", MODEL_TYPE, "--model-type", "sd-ddim-eta",
                   "--seeds", "3", "--inference-steps", "2", "--output-path", str(out), *args,
                   env=BUILTIN_ONLY)


def test_model_type_example_tries_every_eta(tiny_sd: Path, tmp_path: Path) -> None:
    result = render_eta(tiny_sd, tmp_path / "first", "--eta-values", "0", "1",
                        "--output-configs")
    assert result.exit_code == 0, result.stderr
    first = tmp_path / "first"
    assert sorted(path.name for path in first.glob("*.png")) == [
        "s_3_g_5-0_i_2_eta_0-0_step_1.png", "s_3_g_5-0_i_2_eta_1-0_step_2.png"]
    deterministic = pixels_of(first / "s_3_g_5-0_i_2_eta_0-0_step_1.png")
    noisy = pixels_of(first / "s_3_g_5-0_i_2_eta_1-0_step_2.png")
    assert not np.array_equal(deterministic, noisy)  # eta reaches the DDIM steps
    # the config names the model type and the job's eta; run with the plugin, it reproduces
    config = first / "s_3_g_5-0_i_2_eta_1-0_step_2.dgen"
    text = config.read_text()
    assert "--model-type sd-ddim-eta" in text and "--eta-values 1.0" in text
    again = run_cli("--plugin-modules", MODEL_TYPE, "--file", str(config), "--output-path",
                    str(tmp_path / "again"), env=BUILTIN_ONLY)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(noisy, pixels_of(tmp_path / "again" / "s_3_g_5-0_i_2_eta_1-0_step_1.png"))
    # without the option, its default (0) is used and named; DDIM is the default scheduler
    result = render_eta(tiny_sd, tmp_path / "default", "--output-auto1111-metadata")
    assert result.exit_code == 0, result.stderr
    [default] = (tmp_path / "default").glob("*.png")
    assert default.name == "s_3_g_5-0_i_2_eta_0-0_step_1.png"
    assert np.array_equal(deterministic, pixels_of(default))
    with Image.open(default) as image:
        assert "Sampler: DDIM," in image.text["parameters"]


def test_model_type_example_option_is_checked(tmp_path: Path) -> None:
    result = render_eta(tmp_path / "no-model", tmp_path / "out", "--eta-values", "2",
                        "--dry-run")
    assert result.exit_code == 1
    assert "--eta-values: '2' must be from 0 to 1" in result.stderr
    result = run_cli(str(tmp_path / "no-model"), "--plugin-modules", MODEL_TYPE,
                     "--eta-values", "0.5", "--dry-run", env=BUILTIN_ONLY)
    assert result.exit_code == 1
    assert ("--eta-values does not apply to --model-type sd; it applies to sd-ddim-eta"
            in result.stderr)
    result = render_eta(tmp_path / "no-model", tmp_path / "out", "--eta-values", "0.5",
                        "--schedulers", "EulerDiscreteScheduler", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "the scheduler 'EulerDiscreteScheduler' may ignore it" in result.stderr
    result = run_cli("--plugin-modules", MODEL_TYPE, "--help", env=BUILTIN_ONLY)
    assert "ddim eta:" in result.stdout and "--eta-values FLOAT [FLOAT ...]" in result.stdout


def test_model_type_example_conforms(tiny_sd: Path, tmp_path: Path) -> None:
    report = check_model_type("sd-ddim-eta", tiny_sd, tmp_path, plugins=[MODEL_TYPE],
                              axes={"--eta-values": ["0", "0.5"]})
    assert report.modes == ("txt2img", "img2img", "inpaint")


def test_model_type_example_registers_lightly() -> None:
    assert_import_light(["--plugin-modules", MODEL_TYPE, "--model-type", "help"])
    assert_import_light(["--plugin-modules", MODEL_TYPE, "--help"])
