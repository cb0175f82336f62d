"""The ``dgenerate`` command: help listings, sub-commands, plugin loading, exit codes."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from dgenerate.kernel.version import VERSION
from dgenerate.plugin_api.testing import heavy_modules_imported, run_cli

from .support import EXAMPLES, clean_environment, run_dgenerate

ISOLATED = {"DGENERATE_DISABLE_PLUGINS": "*", "DGENERATE_STRICT_PLUGINS": None}
SUB_COMMAND = str(EXAMPLES / "sub_command" / "image_info.py")
GREETING = str(EXAMPLES / "cli_option" / "greeting.py")


def cli(*args: str, cwd: str | None = None):
    return run_cli(*args, env=ISOLATED, cwd=cwd)


def test_version_does_no_plugin_discovery() -> None:
    result = cli("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"dgenerate {VERSION}")
    loaded = heavy_modules_imported(
        "import contextlib, io\nfrom dgenerate.kernel.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['--version']) == 0",
        forbidden=("stevedore", "pluggy", "dgenerate.plugin_api", "importlib.metadata"))
    assert loaded == []


def test_help_lists_kernel_and_plugin_options() -> None:
    result = cli("--plugin-modules", GREETING, "--help")
    assert result.exit_code == 0
    for option in ("--plugin-modules", "--sub-command", "--offline-mode", "--image-processor-help",
                   "--latents-processor-help", "--prompt-weighter-help",
                   "--prompt-upscaler-help", "--quantizer-help", "--directives-help",
                   "--functions-help", "--templates-help", "--sub-command-help"):
        assert option in result.stdout
    assert "options of plugin 'greeting':" in result.stdout
    assert "--greeting TEXT" in result.stdout


def test_image_processor_listing() -> None:
    result = cli("--image-processor-help")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Available image processors:"
    names = [line.split('"')[1] for line in lines[1:]]
    assert names == sorted(names)
    assert {"flip", "grayscale", "invert", "mirror", "canny", "resize"} <= set(names)
    flip = next(line for line in lines if '"flip"' in line)
    assert "upside down" in flip


def test_image_processor_details() -> None:
    result = cli("--image-processor-help", "mirror", "flip")
    assert result.exit_code == 0
    assert result.stdout.startswith(textwrap.dedent("""\
        mirror:
            arguments:
                output-file: str | None = None
                    write each changed image to this file
                output-overwrite: bool = False
                    overwrite output-file instead of numbering copies
                pre-resize: bool = False
                    run before input images are resized, not after

            Mirror the image horizontally"""))
    assert "\nflip:\n" in result.stdout
    assert result.stdout.count("=" * 72) == 2


def test_unknown_name_exits_1_with_close_matches_and_no_traceback() -> None:
    result = cli("--image-processor-help", "flip", "mirorr")
    assert result.exit_code == 1
    assert result.stdout == ""  # nothing printed before the error
    assert result.stderr.startswith(
        "dgenerate: error: unknown image processor 'mirorr'; did you mean 'mirror'? "
        "Available image processors: canny, crop, crop-to-mask, ")
    assert result.stderr.count("\n") == 1


def test_verbose_adds_the_traceback() -> None:
    result = cli("-v", "--image-processor-help", "mirorr")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "unknown image processor 'mirorr'" in result.stderr


@pytest.mark.parametrize("arguments", [["--no-such-option"], ["--no-stdin"], ["--sub-command"],
                                       ["--image-processor-help", "--bogus"]])
def test_usage_errors_exit_2(arguments: list[str]) -> None:
    result = cli(*arguments)
    assert result.exit_code == 2
    assert "usage: dgenerate" in result.stderr


def test_abbreviated_options_are_not_accepted() -> None:
    assert cli("--image-processor").exit_code == 2


def test_a_model_that_exists_nowhere(tmp_path: Path) -> None:
    result = cli("no-such-owner/no-such-model", "--output-path", str(tmp_path))
    assert result.exit_code == 1
    assert "the Hugging Face repository 'no-such-owner/no-such-model'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_several_listings_at_once() -> None:
    result = cli("--plugin-modules", str(EXAMPLES / "image_processor"),
                 "--image-processor-help", "--prompt-weighter-help")
    assert result.exit_code == 0
    assert "Available image processors:" in result.stdout and '"sepia"' in result.stdout
    assert "Available prompt weighters:" in result.stdout


@pytest.mark.parametrize(("option", "title"), [
    ("--quantizer-help", "Available quantizers:"),
])
def test_empty_listings(option: str, title: str) -> None:
    result = cli(option)
    assert (result.exit_code, result.stdout.splitlines()) == (0, [title, "    (none installed)"])


def test_the_builtin_prompt_weighters_are_listed() -> None:
    result = cli("--prompt-weighter-help")
    assert result.exit_code == 0 and result.stdout.startswith("Available prompt weighters:")
    assert '"compel"' in result.stdout and '"sd-embed"' in result.stdout


def test_directives_help() -> None:
    plugin = str(EXAMPLES / "config_directive")
    listing = cli("--plugin-modules", plugin, "--directives-help")
    assert listing.exit_code == 0
    assert re.search(r'^    "\\repeat" +Print a text several times\.$', listing.stdout, re.M)
    assert re.search(r'^    "\\set" +Set a template variable to text', listing.stdout, re.M)
    for name in ("repeat", "\\repeat"):
        details = cli("--plugin-modules", plugin, "--directives-help", name)
        assert details.exit_code == 0
        assert details.stdout.startswith("\\repeat:\n    \\repeat COUNT TEXT...")


def test_functions_help() -> None:
    plugin = str(EXAMPLES / "template_function" / "text_functions.py")
    listing = cli("--plugin-modules", plugin, "--functions-help")
    lines = listing.stdout.splitlines()
    assert lines[0] == "Available template functions:"
    assert "    pluralize(word: str, count: int = 2) -> str" in lines
    assert "    title_words(text: str) -> str" in lines
    assert "    format_size(size: Iterable[int]) -> str" in lines
    assert lines[1:] == sorted(lines[1:])
    details = cli("--plugin-modules", plugin, "--functions-help", "pluralize")
    assert details.stdout.startswith(
        "pluralize(word: str, count: int = 2) -> str:\n    Return the plural")


def test_templates_help() -> None:
    listing = cli("--plugin-modules", GREETING, "--templates-help")
    assert listing.exit_code == 0
    assert 'Name: "last_greeting"\n        Type: str | None' in listing.stdout
    assert 'Name: "last_verbose"\n        Type: bool' in listing.stdout
    assert 'Name: "injected_args"' in listing.stdout
    assert "last_image_processor_help" not in listing.stdout  # meta options are not variables
    details = cli("--templates-help", "injected_args")
    assert details.stdout.startswith('Name: "injected_args"\n    Type: Sequence[str]')
    unknown = cli("--templates-help", "last_verbos")
    assert unknown.exit_code == 1
    assert "did you mean 'last_verbose'" in unknown.stderr


def test_sub_command_listing_and_help() -> None:
    listing = cli("--plugin-modules", SUB_COMMAND, "--sub-command-help")
    lines = listing.stdout.splitlines()
    assert lines[0] == "Available sub-commands:"
    assert any(re.fullmatch(r'    "image-info" +Print the size and mode of image files\.', line)
               for line in lines)
    assert any('"image-process"' in line for line in lines)  # the builtin one stays listed
    details = cli("--plugin-modules", SUB_COMMAND, "--sub-command-help", "image-info")
    assert details.stdout.startswith("usage: image-info [-h] files [files ...]")
    assert "Print the width, height and colour mode of image files." in details.stdout
    own_help = cli("--plugin-modules", SUB_COMMAND, "--sub-command", "image-info", "--help")
    assert own_help.exit_code == 0
    assert own_help.stdout.startswith("usage: image-info [-h] files [files ...]")


def test_sub_command_runs_with_its_own_arguments(media: Path) -> None:
    result = cli("--sub-command", "image-info", str(media / "horse1.jpg"),
                 "--plugin-modules", SUB_COMMAND, "-v")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"{media / 'horse1.jpg'}: 1279x719 RGB"


def test_sub_command_errors(tmp_path: Path) -> None:
    usage = cli("--plugin-modules", SUB_COMMAND, "--sub-command", "image-info")
    assert usage.exit_code == 2
    assert "the following arguments are required: files" in usage.stderr
    unreadable = tmp_path / "not-an-image.png"
    unreadable.write_text("text")
    failed = cli("--plugin-modules", SUB_COMMAND, "--sub-command", "image-info", str(unreadable))
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"dgenerate: error: image-info: cannot read '{unreadable}'")
    unknown = cli("--plugin-modules", SUB_COMMAND, "--sub-command", "image-inf")
    assert unknown.exit_code == 1
    assert "unknown sub-command 'image-inf'; did you mean 'image-info'?" in unknown.stderr
    before = cli("--image-processor-help", "--sub-command", "image-info")
    assert before.exit_code == 2
    assert "only -v, -ofm and --plugin-modules may come before --sub-command" in before.stderr


def test_sub_command_receives_the_meta_options_through_its_context(tmp_path: Path) -> None:
    plugin = tmp_path / "echo_context.py"
    plugin.write_text(textwrap.dedent("""
        from dgenerate.plugin_api import SubCommand, SubCommandSpec, hookimpl

        class EchoContext(SubCommand):
            \"\"\"Print what the kernel passed.\"\"\"

            def add_arguments(self, parser):
                parser.add_argument("words", nargs="*")

            def run(self, options):
                print(self.name, self.context.verbose, self.context.offline_mode, options.words)
                return 3

        @hookimpl
        def dgenerate_sub_commands():
            yield SubCommandSpec(name="echo-context", summary="s", target=EchoContext)
        """))
    plain = cli("--plugin-modules", str(plugin), "--sub-command", "echo-context", "a", "b")
    assert (plain.exit_code, plain.stdout.strip()) == (3, "echo-context False False ['a', 'b']")
    meta = cli("-ofm", "--plugin-modules", str(plugin), "--sub-command", "echo-context",
               "a", "-v", "b")
    assert meta.stdout.strip() == "echo-context True True ['a', 'b']"


def test_plugin_modules_that_do_not_exist() -> None:
    result = cli("--plugin-modules", "nowhere/plugin.py", "--image-processor-help")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "dgenerate: error: plugin module path 'nowhere/plugin.py' does not exist")


def test_requested_plugin_with_an_invalid_spec_exits_1(tmp_path: Path) -> None:
    plugin = tmp_path / "badspec.py"
    plugin.write_text(textwrap.dedent("""
        from dgenerate.plugin_api import ImageProcessorSpec, hookimpl

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="Bad Name", summary="s", target="x:Y")
        """))
    result = cli("--plugin-modules", str(plugin), "--image-processor-help")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "dgenerate: error: plugin 'badspec' (path, ")
    assert "could not list its image processors: invalid image processor spec 'Bad Name': " \
           "the name must match" in result.stderr


def test_aliases_hidden_and_unavailable_specs(tmp_path: Path) -> None:
    plugin = tmp_path / "various.py"
    plugin.write_text(textwrap.dedent("""
        from dgenerate.plugin_api import ImageProcessor, ImageProcessorSpec, hookimpl

        class Same(ImageProcessor):
            def process(self, image):
                return image

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="same", aliases=["identity", "noop"],
                                     summary="Return the image unchanged.", target=Same)
            yield ImageProcessorSpec(name="secret", summary="Hidden.", target=Same, hidden=True)
            yield ImageProcessorSpec(name="needs-ncnn", summary="Needs a module.",
                                     target="nowhere:X", requires=["no_such_module_xyz"])
        """))
    listing = cli("--plugin-modules", str(plugin), "--image-processor-help")
    assert '"same" | "identity" | "noop"  Return the image unchanged.' in listing.stdout
    assert "secret" not in listing.stdout
    assert "Needs a module. (unavailable: missing no_such_module_xyz)" in listing.stdout
    details = cli("--plugin-modules", str(plugin), "--image-processor-help", "noop", "secret")
    assert details.stdout.startswith("same | identity | noop:\n")
    assert "\nsecret:\n" in details.stdout
    unavailable = cli("--plugin-modules", str(plugin), "--image-processor-help", "needs-ncnn")
    assert unavailable.exit_code == 1
    assert "needs the Python module no_such_module_xyz" in unavailable.stderr


# --------------------------------------------- installed plugins (subprocesses)


def installed_env(site: Path, **changes: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return clean_environment(PYTHONPATH=path, **changes)


def test_installed_package_plugin_is_listed(installed_plugins: Path) -> None:
    result = run_dgenerate("--image-processor-help",
                           env=installed_env(installed_plugins,
                                             DGENERATE_DISABLE_PLUGINS="broken"))
    assert result.returncode == 0, result.stderr
    assert re.search(r'^    "pixelate" +Turn the image into large square blocks of colour\.$',
                     result.stdout, re.M)
    assert result.stderr == ""
    details = run_dgenerate("--image-processor-help", "pixelate",
                            env=installed_env(installed_plugins,
                                              DGENERATE_DISABLE_PLUGINS="broken"))
    assert "block: int = 8" in details.stdout


def test_broken_installed_plugin_is_one_warning(installed_plugins: Path) -> None:
    result = run_dgenerate("--image-processor-help", env=installed_env(installed_plugins))
    assert result.returncode == 0
    assert '"pixelate"' in result.stdout and '"flip"' in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("dgenerate: warning: plugin 'broken' (module "
                                  "dgenerate_broken.register) failed to import: ImportError")
    assert warnings[0].endswith("set DGENERATE_DISABLE_PLUGINS=broken")


def test_broken_plugin_requested_by_name_is_an_error(installed_plugins: Path) -> None:
    result = run_dgenerate("--plugin-modules", "broken", "--image-processor-help",
                           env=installed_env(installed_plugins))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        "dgenerate: error: plugin 'broken' (module dgenerate_broken.register) failed to import: "
        "ImportError: No module named 'some_missing_dependency'")


def test_strict_mode_from_the_environment(installed_plugins: Path) -> None:
    result = run_dgenerate("--image-processor-help",
                           env=installed_env(installed_plugins, DGENERATE_STRICT_PLUGINS="1"))
    assert result.returncode == 1
    assert "plugin 'broken'" in result.stderr


def test_plugin_module_by_path_and_folder_in_a_subprocess(tmp_path: Path) -> None:
    result = run_dgenerate(
        "--plugin-modules", "image_processor", "sub_command/image_info.py",
        "--image-processor-help", "--sub-command-help", cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    assert '"sepia"' in result.stdout and '"image-info"' in result.stdout
