"""What a new plugin author ran into, through the real command line and loader: argument
help in every detailed listing, packages with a register.py, failures that name the
plugin, --plugin-modules before the model path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dgenerate.kernel.cli.bootstrap import bootstrap
from dgenerate.plugin_api.testing import run_cli

from .support import MEDIA, clean_environment, run_dgenerate

ISOLATED = {"DGENERATE_DISABLE_PLUGINS": "*", "DGENERATE_STRICT_PLUGINS": None}


def cli(*args: str, cwd: str | Path | None = None):
    return run_cli(*args, env=ISOLATED, cwd=None if cwd is None else str(cwd))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# ----------------------------------------------------- 1. Arg(help=...) in listings

HELPFUL = """
    import argparse
    from typing import Annotated

    from dgenerate.plugin_api import (Arg, ArgSpec, ImageProcessor, ImageProcessorSpec,
                                      SubCommand, SubCommandSpec, TemplateFunctionSpec,
                                      hookimpl)


    class Blocky(ImageProcessor):
        \"\"\"Make square blocks.\"\"\"

        def __init__(self, *, block: Annotated[int, Arg(help="block size in pixels")] = 8,
                     **kwargs):
            super().__init__(**kwargs)

        def process(self, image):
            return image


    def shout(context, text: Annotated[str, Arg(help="the words to shout")],
              repeat_count: Annotated[int, Arg(help="how many times")] = 1) -> str:
        \"\"\"Upper case, repeated.\"\"\"
        return text.upper() * repeat_count


    class Echo(SubCommand):
        \"\"\"Print the words.\"\"\"

        def add_arguments(self, parser):
            parser.add_argument("words", nargs="*", help="the words to print back")

        def run(self, options):
            print(*options.words)
            return 0


    @hookimpl
    def dgenerate_image_processors():
        yield ImageProcessorSpec(name="blocky", summary="Blocks.", target=Blocky)
        yield ImageProcessorSpec(
            name="declared", summary="Declared arguments.", target=Blocky,
            args=(ArgSpec(name="block", type=int, default=8, help="declared help text"),))


    @hookimpl
    def dgenerate_template_functions():
        yield TemplateFunctionSpec(name="shout", summary="Shout.", target=shout,
                                   needs_context=True)


    @hookimpl
    def dgenerate_sub_commands():
        yield SubCommandSpec(name="echo-words", summary="Echo.", target=Echo)
    """


@pytest.fixture
def helpful(tmp_path: Path) -> str:
    return str(write(tmp_path / "helpful.py", HELPFUL))


def test_processor_details_show_each_arguments_help(helpful: str) -> None:
    result = cli("--plugin-modules", helpful, "--image-processor-help", "blocky", "declared")
    assert result.exit_code == 0, result.stderr
    assert ("        block: int = 8\n"
            "            block size in pixels\n"
            "        output-file: str | None = None\n"
            "            write each changed image to this file\n") in result.stdout
    assert "        block: int = 8\n            declared help text\n" in result.stdout


def test_function_details_show_each_arguments_help(helpful: str) -> None:
    result = cli("--plugin-modules", helpful, "--functions-help", "shout")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        "shout(text: str, repeat_count: int = 1) -> str:\n"
        "    arguments:\n"
        "        text: str\n"
        "            the words to shout\n"
        "        repeat_count: int = 1\n"
        "            how many times\n"
        "\n"
        "    Upper case, repeated.\n")


def test_help_directives_and_sub_command_help_show_it_too(helpful: str, tmp_path: Path) -> None:
    script = write(tmp_path / "help.dgen", """
        \\image_processor_help blocky
        \\functions_help shout
        \\sub_command_help echo-words
        """)
    result = cli("--plugin-modules", helpful, "--file", str(script))
    assert result.exit_code == 0, result.stderr
    assert "block: int = 8\n            block size in pixels" in result.stdout
    assert "text: str\n            the words to shout" in result.stdout
    assert "the words to print back" in result.stdout
    details = cli("--plugin-modules", helpful, "--sub-command-help", "echo-words")
    assert "the words to print back" in details.stdout


# ------------------------------------------------ 2. packages with a register.py


def make_package(folder: Path, *, register: bool = True) -> Path:
    """``folder``: an empty __init__.py, hooks in register.py, the processor in impl.py."""
    write(folder / "__init__.py", "")
    write(folder / "impl.py", """
        from dgenerate.plugin_api import ImageProcessor

        class Thing(ImageProcessor):
            \"\"\"Leave the image as it is.\"\"\"

            def process(self, image):
                return image
        """)
    if register:
        write(folder / "register.py", f"""
            from dgenerate.plugin_api import ImageProcessorSpec, hookimpl

            from .impl import Thing  # a relative import works too

            @hookimpl
            def dgenerate_image_processors():
                yield ImageProcessorSpec(name="{folder.name}-thing", summary="A thing.",
                                         target=".impl:Thing")
            """)
    return folder


def assert_thing_listed(result, name: str) -> None:
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{name}-thing:\n")
    assert "Leave the image as it is." in result.stdout


def test_package_folder_with_register_module(tmp_path: Path) -> None:
    package = make_package(tmp_path / "regfolder")
    assert_thing_listed(cli("--plugin-modules", str(package), "--image-processor-help",
                            "regfolder-thing"), "regfolder")


def test_register_file_of_a_package(tmp_path: Path) -> None:
    package = make_package(tmp_path / "regfile")
    assert_thing_listed(cli("--plugin-modules", str(package / "register.py"),
                            "--image-processor-help", "regfile-thing"), "regfile")
    # both spellings at once load the plugin once
    both = cli("--plugin-modules", str(package), str(package / "register.py"),
               "--image-processor-help", "regfile-thing")
    assert_thing_listed(both, "regfile")


def test_register_file_in_a_subprocess(tmp_path: Path) -> None:
    make_package(tmp_path / "regsub")
    result = run_dgenerate("--plugin-modules", "regsub/register.py", "--image-processor-help",
                           "regsub-thing", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Leave the image as it is." in result.stdout


def test_importable_package_with_register_module(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_package(tmp_path / "regmodule_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert_thing_listed(cli("--plugin-modules", "regmodule_pkg", "--image-processor-help",
                            "regmodule_pkg-thing"), "regmodule_pkg")


def test_a_folder_that_contributes_nothing_is_an_error(tmp_path: Path) -> None:
    package = make_package(tmp_path / "emptypkg", register=False)
    result = cli("--plugin-modules", str(package), "--image-processor-help")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith(f"dgenerate: error: plugin 'emptypkg' ({package}) contributes "
                              "nothing: it has no hook implementations.")
    assert "@hookimpl" in message and "register.py" in message and "\n" not in message


def test_a_file_whose_hooks_lack_the_decorator_is_an_error(tmp_path: Path) -> None:
    plugin = write(tmp_path / "undecorated.py", """
        def dgenerate_image_processors():
            return []
        """)
    result = cli("--plugin-modules", str(plugin), "--image-processor-help")
    assert result.exit_code == 1
    assert str(plugin) in result.stderr and "contributes nothing" in result.stderr
    assert "(dgenerate_image_processors lack @hookimpl)" in result.stderr


# --------------------------------------------- 3. failures name the plugin

FAILING = """
    from dgenerate.plugin_api import (DgenerateError, DirectiveSpec, ImageProcessor,
                                      ImageProcessorSpec, SubCommand, SubCommandSpec,
                                      TemplateFunctionSpec, hookimpl)


    class Boom(ImageProcessor):
        def process(self, image):
            return 1 / 0


    class Clear(ImageProcessor):
        def process(self, image):
            raise DgenerateError("clear: this image is too plain")


    class BadInit(ImageProcessor):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            {}["missing"]

        def process(self, image):
            return image


    class Crash(SubCommand):
        def run(self, options):
            return 1 / 0


    def boom_directive(context, args):
        return 1 / 0


    def boom_function():
        return 1 / 0


    @hookimpl
    def dgenerate_image_processors():
        yield ImageProcessorSpec(name="boom", summary="Fails.", target=Boom)
        yield ImageProcessorSpec(name="clear", summary="Fails clearly.", target=Clear)
        yield ImageProcessorSpec(name="badinit", summary="Fails to start.", target=BadInit)


    @hookimpl
    def dgenerate_directives():
        yield DirectiveSpec(name="boom", summary="Fails.", target=boom_directive)


    @hookimpl
    def dgenerate_template_functions():
        yield TemplateFunctionSpec(name="boom", summary="Fails.", target=boom_function)


    @hookimpl
    def dgenerate_sub_commands():
        yield SubCommandSpec(name="crash", summary="Fails.", target=Crash)
    """


@pytest.fixture
def zerodiv(tmp_path: Path) -> Path:
    return write(tmp_path / "zerodiv.py", FAILING)


def provider(path: Path) -> str:
    return f"plugin {path.stem!r} (path, {path})"


def error_line(result) -> str:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_processor_failing_inside_image_process(zerodiv: Path, tmp_path: Path) -> None:
    result = cli("--plugin-modules", str(zerodiv), "--sub-command", "image-process",
                 str(MEDIA / "horse1.jpg"), "--processors", "boom", "-o",
                 str(tmp_path / "out.png"))
    assert error_line(result) == (f"dgenerate: error: {provider(zerodiv)}: image processor "
                                  "'boom' failed: ZeroDivisionError: division by zero")


def test_a_plugins_own_error_is_left_as_it_is(zerodiv: Path, tmp_path: Path) -> None:
    result = cli("--plugin-modules", str(zerodiv), "--sub-command", "image-process",
                 str(MEDIA / "horse1.jpg"), "--processors", "clear", "-o",
                 str(tmp_path / "out.png"))
    assert error_line(result) == "dgenerate: error: clear: this image is too plain"


@pytest.mark.parametrize("options", [
    ["--image-seeds", str(MEDIA / "horse1.jpg"), "--seed-image-processors", "boom"],
    ["--post-processors", "boom"],
], ids=["seed", "post"])
def test_a_processor_failing_in_a_render(zerodiv: Path, tmp_path: Path,
                                         options: list[str]) -> None:
    result = cli("--plugin-modules", str(zerodiv), "embedded:shapes", "--prompts", "x",
                 "--inference-steps", "1", *options, "--output-path", str(tmp_path / "out"))
    assert error_line(result) == (f"dgenerate: error: {provider(zerodiv)}: image processor "
                                  "'boom' failed: ZeroDivisionError: division by zero")


def test_a_constructor_failing(zerodiv: Path, tmp_path: Path) -> None:
    result = cli("--plugin-modules", str(zerodiv), "--sub-command", "image-process",
                 str(MEDIA / "horse1.jpg"), "--processors", "badinit", "-o",
                 str(tmp_path / "out.png"))
    assert error_line(result) == (
        f"dgenerate: error: {provider(zerodiv)}: image processor 'badinit' could not be "
        "created from 'badinit': KeyError: 'missing'")


def test_a_sub_command_failing(zerodiv: Path) -> None:
    result = cli("--plugin-modules", str(zerodiv), "--sub-command", "crash")
    assert error_line(result) == (f"dgenerate: error: {provider(zerodiv)}: sub-command "
                                  "'crash' failed: ZeroDivisionError: division by zero")


@pytest.mark.parametrize(("line", "what"), [
    ("\\boom", "config directive 'boom'"),
    ("{{ boom() }}", "template function 'boom'"),
])
def test_script_code_failing(zerodiv: Path, tmp_path: Path, line: str, what: str) -> None:
    script = write(tmp_path / "s.dgen", line + "\n")
    result = cli("--plugin-modules", str(zerodiv), "--file", str(script))
    message = error_line(result)
    assert message.startswith(f"dgenerate: error: {script}, line 1: ")
    assert message.endswith(f"{provider(zerodiv)}: {what} failed: ZeroDivisionError: "
                            "division by zero")


@pytest.mark.parametrize(("hook", "expected"), [
    ("dgenerate_configure(context)", "failed in dgenerate_configure"),
    ("dgenerate_add_options(options)", "failed in dgenerate_add_options"),
    ("dgenerate_image_processors()", "could not list its image processors"),
])
def test_a_hook_failing(tmp_path: Path, hook: str, expected: str) -> None:
    plugin = write(tmp_path / "badhook.py", f"""
        from dgenerate.plugin_api import hookimpl

        @hookimpl
        def {hook}:
            raise RuntimeError("no luck")
        """)
    result = cli("--plugin-modules", str(plugin), "--image-processor-help")
    assert error_line(result) == (f"dgenerate: error: {provider(plugin)} {expected}: "
                                  "RuntimeError: no luck")


def test_a_hook_failing_while_a_script_imports_it(tmp_path: Path) -> None:
    plugin = write(tmp_path / "lateconf.py", """
        from dgenerate.plugin_api import hookimpl

        @hookimpl
        def dgenerate_configure(context):
            raise RuntimeError("no luck")
        """)
    script = write(tmp_path / "s.dgen", f"\\import_plugins {plugin}\n")
    message = error_line(cli("--file", str(script)))
    assert f"plugin 'lateconf' ({plugin}) failed while registering: RuntimeError: no luck" in (
        message)


# ------------------------------------------- 4. --plugin-modules before the model


def test_plugin_modules_stop_at_the_model_path(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgfolder")
    plugin = write(tmp_path / "single.py", "")
    model_folder = tmp_path / "sd-model"  # a diffusers folder has no __init__.py
    model_folder.mkdir()
    cases = {
        (str(plugin), "embedded:shapes"): [str(plugin)],
        (str(plugin), str(package), "org/model"): [str(plugin), str(package)],
        (str(plugin), "missing.py", "embedded:shapes"): [str(plugin), "missing.py"],
        (str(plugin), str(model_folder)): [str(plugin)],
        (str(plugin), "image-ops", "json", "model.safetensors"): [str(plugin), "image-ops",
                                                                   "json"],
    }
    for values, taken in cases.items():
        boot = bootstrap(["--plugin-modules", *values, "--prompts", "x"])
        assert list(boot.plugin_modules) == taken, values
        rest = [value for value in values if value not in taken]
        assert list(boot.main_args) == [*rest, "--prompts", "x", "--plugin-modules", *taken]
    boot = bootstrap([f"--plugin-modules={plugin}", "embedded:shapes", "--prompts", "x"])
    assert list(boot.plugin_modules) == [str(plugin)]
    assert boot.main_args[0] == "embedded:shapes"


def test_plugin_modules_before_the_model_through_the_cli(tmp_path: Path) -> None:
    result = run_dgenerate("--plugin-modules", "helpful.py", "embedded:shapes", "--prompts",
                           "x", "--post-processors", "blocky;block=4", "--dry-run",
                           cwd=write(tmp_path / "helpful.py", HELPFUL).parent,
                           env=clean_environment(DGENERATE_DISABLE_PLUGINS="*"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("job 1: prompt='x'")


def test_a_misspelled_second_plugin_is_still_reported(tmp_path: Path) -> None:
    plugin = write(tmp_path / "single.py", "")
    result = cli("--plugin-modules", str(plugin), "nowhere/typo.py", "--image-processor-help")
    assert result.exit_code == 1
    assert "plugin module path 'nowhere/typo.py' does not exist" in result.stderr

