"""\\save_modules, \\use_modules and \\clear_modules: modules of one pipeline handed to the next
invocation of a config script, and the ``saved_modules`` template variable.

Two tiny SD folders differ only in their VAE: ``tiny_sd`` and ``other`` (tiny_sd with the
tiny_vae fixture as its VAE). Rendering ``other`` with tiny_sd's saved VAE must give
tiny_sd's picture, and the pipeline must hold the very objects that were saved.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli import commands
from dgenerate.kernel.config.runner import ConfigError, ConfigRunner, ScriptSource
from dgenerate.kernel.config.session import make_runner
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY, REPO

pytestmark = pytest.mark.usefixtures("restore_process_state")

RENDER = "--inference-steps 2 --seeds 1 --prompts 'a horse'"
SDXL = "--model-type sdxl --output-size 64"


@pytest.fixture(scope="module")
def other(tiny_sd: Path, tiny_vae: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_sd with another VAE (tiny_vae): everything else is the same weights."""
    folder = tmp_path_factory.mktemp("modules") / "other-sd"
    shutil.copytree(tiny_sd, folder)
    shutil.rmtree(folder / "vae")
    shutil.copytree(tiny_vae, folder / "vae")
    return folder


def new_runner(*, verbose: bool = False) -> ConfigRunner:
    return make_runner(KernelContext(isolated_plugin_manager(), verbose=verbose), commands)


def run(runner: ConfigRunner, text: str) -> None:
    runner.run(textwrap.dedent(text), ScriptSource("test.dgen"))


def script(tmp_path: Path, text: str, *arguments: str) -> Any:
    path = tmp_path / "script.dgen"
    path.write_text(textwrap.dedent(text))
    return run_cli("--file", str(path), *arguments, env=BUILTIN_ONLY)


def picture(folder: Path) -> np.ndarray:
    (path,) = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def pipelines(runner: ConfigRunner) -> list[Any]:
    """The cached main pipelines, oldest first."""
    return [entry.value for entry in runner.context.caches.cache("pipeline")._entries.values()]


def error_of(result: Any) -> str:
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("dgenerate: error")]
    return line


# ------------------------------------------------------------------------- sharing


def test_the_saved_vae_and_text_encoder_load_into_the_next_pipeline(
        tiny_sd: Path, other: Path, tmp_path: Path) -> None:
    runner = new_runner()
    run(runner, f"""
        {tiny_sd} {RENDER} --output-path {tmp_path / "first"}
        \\save_modules parts vae text_encoder
        \\use_modules parts
        {other} {RENDER} --output-path {tmp_path / "shared"}
        {other} {RENDER} --output-path {tmp_path / "own"}
        """)
    first, shared, own = pipelines(runner)
    saved = runner.variables["saved_modules"]["parts"]
    assert saved["vae"] is first.vae and saved["text_encoder"] is first.text_encoder
    # the next invocation loads other's folder, with the saved objects in it
    assert shared.vae is first.vae and shared.text_encoder is first.text_encoder
    assert shared.unet is not first.unet
    # only that invocation: the one after loads other's own VAE, cached apart
    assert own is not shared and own.vae is not first.vae
    # the VAE is the only difference between the models: the picture proves which one ran
    assert np.array_equal(picture(tmp_path / "shared"), picture(tmp_path / "first"))
    assert not np.array_equal(picture(tmp_path / "own"), picture(tmp_path / "first"))
    assert runner.context.caches.cache("pipeline").misses == 3


def test_verbose_output_says_what_was_used_and_ignored(tiny_sd: Path, tiny_sdxl: Path,
                                                      tmp_path: Path) -> None:
    result = script(tmp_path, f"""
        {tiny_sdxl} {SDXL} {RENDER} --output-path {tmp_path / "a"}
        \\save_modules parts vae text_encoder_2 tokenizer_2
        \\use_modules parts
        {tiny_sd} {RENDER} --output-path {tmp_path / "b"} -v
        {tiny_sd} {RENDER} --output-path {tmp_path / "c"} -v
        """)
    assert result.exit_code == 0, result.stderr
    used = [line for line in result.stderr.splitlines() if "\\use_modules" in line]
    assert used == ["dgenerate: \\use_modules: loading StableDiffusionPipeline with the shared "
                    "vae; ignored (a StableDiffusionPipeline has no such component): "
                    "text_encoder_2, tokenizer_2"]  # the second tiny_sd render: nothing shared


def test_options_naming_a_sub_model_take_precedence(tiny_sd: Path, other: Path,
                                                    tiny_vae: Path, tmp_path: Path) -> None:
    runner = new_runner(verbose=True)
    run(runner, f"""
        {tiny_sd} {RENDER} --output-path {tmp_path / "first"}
        \\save_modules parts vae text_encoder
        \\use_modules parts
        {other} {RENDER} --output-path {tmp_path / "vae"} --vae "AutoencoderKL;model={tiny_vae}"
        \\use_modules parts
        {other} {RENDER} --output-path {tmp_path / "keep"} --text-encoders +
        \\use_modules parts
        {other} {RENDER} --output-path {tmp_path / "replace"}
        --text-encoders "CLIPTextModel;model={tiny_sd};subfolder=text_encoder"
        """)
    first, with_vae, keep, replace = pipelines(runner)
    assert with_vae.vae is not first.vae and with_vae.text_encoder is first.text_encoder
    assert keep.text_encoder is first.text_encoder and keep.vae is first.vae  # + keeps it
    assert replace.text_encoder is not first.text_encoder and replace.vae is first.vae
    # --vae gave other's own VAE weights back: other's picture, not tiny_sd's
    assert not np.array_equal(picture(tmp_path / "vae"), picture(tmp_path / "first"))
    assert np.array_equal(picture(tmp_path / "keep"), picture(tmp_path / "first"))


def test_null_in_text_encoders_overrides_a_shared_encoder(tiny_sdxl: Path,
                                                          tmp_path: Path) -> None:
    runner = new_runner()
    run(runner, f"""
        {tiny_sdxl} {SDXL} {RENDER} --output-path {tmp_path / "a"}
        \\save_modules encoders text_encoder text_encoder_2
        \\use_modules encoders
        """)
    # the tiny UNet is too small to run on one encoder's width: the load is what is tested
    with pytest.raises(ConfigError, match="line 1: .*model type 'sdxl' failed"):
        run(runner, f"{tiny_sdxl} {SDXL} {RENDER} --output-path {tmp_path / 'b'} "
                    "--text-encoders null +\n")
    first, second = pipelines(runner)
    assert second is not first
    assert second.text_encoder is None and second.text_encoder_2 is first.text_encoder_2


def test_clear_modules_forgets_and_cancels_a_waiting_use(tiny_sd: Path, other: Path,
                                                         tmp_path: Path) -> None:
    runner = new_runner()
    run(runner, f"""
        {tiny_sd} {RENDER} --output-path {tmp_path / "first"}
        \\save_modules a vae
        \\save_modules b text_encoder
        \\save_modules c unet
        \\clear_modules b
        \\print {{{{ saved_modules | list }}}}
        \\use_modules a
        \\clear_modules a
        {other} {RENDER} --output-path {tmp_path / "own"}
        """)
    first, own = pipelines(runner)
    assert own.vae is not first.vae  # the waiting \\use_modules a went with a
    assert list(runner.variables["saved_modules"]) == ["c"]
    run(runner, "\\clear_modules\n")
    assert runner.variables["saved_modules"] == {}


def test_the_template_variable_and_templates_help(tiny_sd: Path, tmp_path: Path) -> None:
    result = script(tmp_path, f"""
        \\print {{{{ saved_modules }}}}
        {tiny_sd} {RENDER} --output-path {tmp_path / "a"}
        \\save_modules parts vae unet
        \\print {{{{ saved_modules.parts.vae.__class__.__name__ }}}} {{{{ saved_modules|length }}}}
        \\templates_help saved_modules
        """)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "{}"
    assert "AutoencoderKL 1" in lines
    assert ("        Value: {'parts': {'vae': <AutoencoderKL>, 'unet': <UNet2DConditionModel>}}"
            in lines)
    help_text = run_cli("--templates-help", "saved_modules", env=BUILTIN_ONLY)
    assert help_text.exit_code == 0 and "saved_modules" in help_text.stdout
    assert "\\save_modules" in help_text.stdout


def test_the_directives_are_listed_with_their_help() -> None:
    listing = run_cli("--directives-help", env=BUILTIN_ONLY)
    assert listing.exit_code == 0
    for name in ("save_modules", "use_modules", "clear_modules"):
        assert f'"\\{name}"' in listing.stdout, name
    detail = run_cli("--directives-help", "save_modules", env=BUILTIN_ONLY)
    assert "saved_modules[VAR]" in detail.stdout and "text_encoder_3" in detail.stdout


def test_the_manual_example_runs(tmp_path: Path) -> None:
    page = (REPO / "docs" / "manual" / "config-scripts.md").read_text()
    section = page[page.index("## Sharing modules"):]
    example = re.search(r"```text\n(.*?)```", section, re.DOTALL).group(1)
    result = script(tmp_path, example, "--inference-steps", "2", "--output-path",
                    str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "{'shapes': {'vae': <AutoencoderKL>, 'text_encoder': <CLIPTextModel>}}" in (
        result.stdout)
    assert "loading StableDiffusionPipeline with the shared vae, text_encoder" in result.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


# -------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("text", "expected"), [
    ("\\save_modules parts vae", "no invocation has run yet"),
    ("\\save_modules parts", "usage is \\save_modules VAR MODULE_NAME... (module names: unet, "
                             "vae, transformer"),
    ("\\save_modules", "usage is \\save_modules VAR MODULE_NAME..."),
    ("\\save_modules parts vea", "'vea' is not a module name that can be saved (did you mean "
                                 "'vae'?); the module names are: unet, vae, transformer, "
                                 "text_encoder, text_encoder_2, text_encoder_3, tokenizer, "
                                 "tokenizer_2, tokenizer_3, safety_checker, feature_extractor, "
                                 "image_encoder, adapter, controlnet, scheduler"),
    ("\\use_modules parts", "\\use_modules parts: no modules are saved under that name (none "
                            "are saved; use \\save_modules VAR MODULE_NAME... after an "
                            "invocation)"),
    ("\\use_modules", "usage is \\use_modules VAR"),
    ("\\use_modules a b", "usage is \\use_modules VAR"),
    ("\\clear_modules parts", "\\clear_modules parts: no modules are saved under that name"),
])
def test_mistakes_before_any_render(tmp_path: Path, text: str, expected: str) -> None:
    line = error_of(script(tmp_path, text + "\n\\print never\n"))
    assert line.startswith(f"dgenerate: error: {tmp_path / 'script.dgen'}, line 1: ")
    assert expected in line


@pytest.fixture(scope="module")
def rendered(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> ConfigRunner:
    """A runner that rendered tiny_sd once and saved its VAE as ``parts``."""
    runner = new_runner()
    run(runner, f"""
        {tiny_sd} {RENDER} --output-path {tmp_path_factory.mktemp("rendered")}
        \\save_modules parts vae
        """)
    return runner


@pytest.mark.parametrize(("text", "expected"), [
    ("\\save_modules x transformer", "\\save_modules: the pipeline of the last invocation "
                                     "(StableDiffusionPipeline) has no transformer module; it "
                                     "has: vae, text_encoder, tokenizer, unet, scheduler"),
    ("\\save_modules x safety_checker", "(StableDiffusionPipeline) has no safety_checker "
                                        "loaded (it is None)"),
    ("\\use_modules prats", "\\use_modules prats: no modules are saved under that name; did "
                            "you mean 'parts'? (saved: parts)"),
    ("\\clear_modules parts prats", "\\clear_modules prats: no modules are saved under that "
                                    "name; did you mean 'parts'?"),
])
def test_mistakes_after_a_render(rendered: ConfigRunner, text: str, expected: str) -> None:
    with pytest.raises(DgenerateError) as caught:
        run(rendered, text + "\n")
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert list(rendered.variables["saved_modules"]) == ["parts"]  # nothing half done


def test_a_missing_module_stops_the_script(tiny_sd: Path, tmp_path: Path) -> None:
    line = error_of(script(tmp_path, f"""
        {tiny_sd} {RENDER} --output-path {tmp_path / "a"}
        \\save_modules parts vae transformer
        \\print never
        """))
    assert "line 3: \\save_modules parts vae transformer: \\save_modules: the pipeline of the " \
           "last invocation (StableDiffusionPipeline) has no transformer module" in line


def test_a_pipeline_freed_by_clear_object_cache(tiny_sd: Path, tmp_path: Path) -> None:
    runner = new_runner()
    run(runner, f"""
        {tiny_sd} {RENDER} --output-path {tmp_path / "a"}
        \\clear_object_cache
        """)
    with pytest.raises(DgenerateError, match=r"no longer in memory \(\\clear_object_cache"):
        run(runner, "\\save_modules parts vae\n")


FLAT = '''
from PIL import Image
from dgenerate.plugin_api import ModelType, ModelTypeSpec, RenderOutput, Size, hookimpl


class Flat(ModelType):
    def default_size(self):
        return Size(8, 8)

    def render(self, job):
        return RenderOutput([Image.new("RGB", (job.width, job.height)) for _ in job.seeds])


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(name="flat-modules", summary="Renders in one step.", target=":Flat")
'''


def test_a_model_type_without_a_pipeline(tmp_path: Path) -> None:
    plugin = tmp_path / "flat_modules.py"
    plugin.write_text(FLAT)
    line = error_of(script(tmp_path, f"""
        anything --model-type flat-modules --output-path {tmp_path / "out"}
        \\save_modules parts vae
        """, "--plugin-modules", str(plugin)))
    assert "\\save_modules: the last invocation used no pipeline" in line
