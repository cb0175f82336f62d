"""Helpers for testing plugins, for plugin authors and for dgenerate itself.

Use them from any test framework, or enable the pytest fixtures in a
``conftest.py``::

    pytest_plugins = ["dgenerate.plugin_api.testing"]

    def test_my_processor(plugin_manager):
        plugin_manager.load_specifiers(["path/to/my_plugin"])
        ...

* :func:`isolated_plugin_manager` / the ``plugin_manager`` fixture: a plugin
  manager with dgenerate's builtin plugins only (installed third-party plugins
  are not loaded), into which a test loads the plugins it needs.
* :func:`validate_plugin`: load a plugin and check everything it contributes
  (names, summaries, targets importable, arguments readable, base classes).
* :func:`assert_import_light`: check in a fresh interpreter that importing a
  module, or running a dgenerate command, does not import heavy libraries.
* :func:`run_cli`: run the ``dgenerate`` command in this process and capture
  its exit status and output.

The kernel is imported inside these functions only: importing this module
stays as light as the rest of the plugin API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .interfaces.image_processor import ImageProcessor
from .interfaces.job_executor import JobExecutor
from .interfaces.latents_processor import LatentsProcessor
from .interfaces.model_type import ModelType
from .interfaces.pipeline_extension import PipelineExtension
from .interfaces.prompt_upscaler import PromptUpscaler
from .interfaces.prompt_weighter import PromptWeighter
from .interfaces.quantizer import Quantizer
from .interfaces.sub_command import SubCommand
from .specs import ArgumentedSpec, Category, PluginSpec

__all__ = [
    "HEAVY_MODULES",
    "CliResult",
    "assert_import_light",
    "heavy_modules_imported",
    "isolated_plugin_manager",
    "run_cli",
    "validate_plugin",
]

#: Modules that help listings and registration modules must never import.
HEAVY_MODULES: tuple[str, ...] = ("torch", "diffusers", "transformers", "cv2", "ultralytics")

_BASE_CLASSES: dict[Category, type] = {
    Category.IMAGE_PROCESSOR: ImageProcessor,
    Category.LATENTS_PROCESSOR: LatentsProcessor,
    Category.PROMPT_WEIGHTER: PromptWeighter,
    Category.PROMPT_UPSCALER: PromptUpscaler,
    Category.QUANTIZER: Quantizer,
    Category.MODEL_TYPE: ModelType,
    Category.SUB_COMMAND: SubCommand,
    Category.PIPELINE_EXTENSION: PipelineExtension,
    Category.JOB_EXECUTOR: JobExecutor,
}


@contextlib.contextmanager
def _environment(changes: Mapping[str, str | None] | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in (changes or {})}
    try:
        for key, value in (changes or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def isolated_plugin_manager(*, builtins: bool = True, plugins: Sequence[str] = ()) -> Any:
    """A new kernel plugin manager that ignores installed third-party plugins.

    ``builtins`` loads dgenerate's own plugins; ``plugins`` are loaded as if
    given to ``--plugin-modules`` (paths, module names or entry-point names), so
    their failures raise. Warnings are collected in ``manager.warnings``.
    """
    from dgenerate.kernel.plugins.manager import DISABLE_VARIABLE, PluginManager

    manager = PluginManager(warn=lambda message: None, environ={DISABLE_VARIABLE: "*"})
    if builtins:
        manager.autoload()
    if plugins:
        manager.load_specifiers(list(plugins))
    return manager


def validate_plugin(plugin: str, *, builtins: bool = True) -> list[PluginSpec]:
    """Load ``plugin`` (a path, module or entry-point name) and check all it contributes.

    Checks that every contribution hook returns valid specs whose names do not
    clash (with each other or with the builtins), that every target imports and
    is of the right kind for its category, and that URI arguments can be read.
    Returns the plugin's specs; raises ``AssertionError`` listing every problem.
    """
    from dgenerate.kernel.plugins.targets import resolve_target, spec_arguments

    manager = isolated_plugin_manager(builtins=builtins, plugins=[plugin])
    names = {loaded.source.name for loaded in manager.plugins.values()
             if loaded.source.requested}
    problems: list[str] = []
    found: list[PluginSpec] = []
    for category in Category:
        try:
            registry = manager.registry(category)
        except Exception as error:
            problems.append(f"{category.plural}: {error}")
            continue
        for spec in registry.specs(include_hidden=True):
            if spec.provider is None or spec.provider.plugin not in names:
                continue
            found.append(spec)
            label = f"{category.singular} {spec.name!r}"
            try:
                target = resolve_target(spec)
                base = _BASE_CLASSES.get(category)
                if base is not None and not (inspect.isclass(target) and issubclass(target, base)):
                    problems.append(
                        f"{label}: target {spec.target!r} is not a subclass of {base.__name__}")
                elif category in (Category.DIRECTIVE, Category.TEMPLATE_FUNCTION) and not callable(
                        target):
                    problems.append(f"{label}: target {spec.target!r} is not callable")
                if isinstance(spec, ArgumentedSpec):
                    spec_arguments(spec)
            except Exception as error:
                problems.append(f"{label}: {error}")
    implements_hooks = any(manager.hooks.get_hookcallers(loaded.module)
                           for loaded in manager.plugins.values() if loaded.source.name in names)
    if not found and not problems and not implements_hooks:
        problems.append(f"plugin {plugin!r} implements no dgenerate hook")
    if problems:
        raise AssertionError("plugin problems:\n  " + "\n  ".join(problems))
    return found


def heavy_modules_imported(code: str, *, forbidden: Sequence[str] = HEAVY_MODULES,
                           env: Mapping[str, str] | None = None,
                           cwd: str | None = None) -> list[str]:
    """Run ``code`` in a fresh interpreter; return which ``forbidden`` modules it imported."""
    probe = (
        f"{code}\n"
        "import sys as _sys, json as _json\n"
        f"_sys.__stdout__.write('\\nHEAVY=' + _json.dumps(sorted(m for m in {list(forbidden)!r} "
        "if m in _sys.modules)) + '\\n')\n"
    )
    environment = dict(os.environ, **(env or {}))
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment,
        cwd=cwd, stdin=subprocess.DEVNULL, check=False)
    marker = [line for line in completed.stdout.splitlines() if line.startswith("HEAVY=")]
    if not marker:
        raise AssertionError(
            f"the probe did not finish (exit {completed.returncode}):\n{completed.stderr}")
    return json.loads(marker[-1][len("HEAVY="):])


def assert_import_light(target: str | Sequence[str], *,
                        forbidden: Sequence[str] = HEAVY_MODULES,
                        env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
    """Assert that a module import (a string) or a dgenerate command line (a list of
    arguments) imports none of ``forbidden``, in a fresh interpreter."""
    if isinstance(target, str):
        code = f"import {target}"
        what = f"importing {target}"
    else:
        code = ("import contextlib, io\n"
                "from dgenerate.kernel.cli.main import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    _status = main({list(target)!r})\n"
                "assert _status == 0, _status\n")
        what = "dgenerate " + " ".join(target)
    heavy = heavy_modules_imported(code, forbidden=forbidden, env=env, cwd=cwd)
    if heavy:
        raise AssertionError(f"{what} imported {', '.join(heavy)}")


@dataclasses.dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: Mapping[str, str | None] | None = None,
            cwd: str | None = None) -> CliResult:
    """Run ``dgenerate ARGS`` in this process; ``env`` changes environment variables
    for the run (``None`` removes one)."""
    from dgenerate.kernel.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with _environment(env), contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            code = main(list(args))
    finally:
        os.chdir(previous)
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


try:  # the fixtures exist only where pytest does
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture
    def plugin_manager() -> Any:
        """An isolated plugin manager with the builtin plugins loaded."""
        return isolated_plugin_manager()
