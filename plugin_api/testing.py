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
* :func:`check_model_type`: the conformance suite of a model type, run on a tiny
  model: every declared mode renders through the real command, with the right
  number, size and names of images, configs that reproduce them bit for bit and a
  dry run that loads nothing.

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
from .interfaces.sub_model import SubModel
from .specs import ArgumentedSpec, Category, PluginSpec

__all__ = [
    "HEAVY_MODULES",
    "CliResult",
    "ConformanceReport",
    "assert_import_light",
    "check_model_type",
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
    Category.SUB_MODEL: SubModel,
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
    from dgenerate.plugin_api.errors import DgenerateError

    try:
        manager = isolated_plugin_manager(builtins=builtins, plugins=[plugin])
    except DgenerateError as error:  # it does not load: nothing more to check
        raise AssertionError(f"plugin problems:\n  {error}") from error
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


# ------------------------------------------------------------ model type conformance

#: the modes in the order the conformance suite renders them
_MODE_ORDER = ("txt2img", "img2img", "inpaint")
#: options check_model_type sets itself: in extra_args they would change what it expects
_RESERVED_FLAGS = {
    "-p": "prompt=", "--prompts": "prompt=", "-se": "seed=", "--seeds": "seed=",
    "-gse": "seed=", "--gen-seeds": "seed=", "-ifs": "steps=", "--inference-steps": "steps=",
    "-gs": "guidance=", "--guidance-scales": "guidance=", "-iss": "strength=",
    "--image-seed-strengths": "strength=", "-is": "image= and mask=",
    "--image-seeds": "image= and mask=", "-s": "size=", "--output-size": "size=",
    "-o": "output_dir", "--output-path": "output_dir", "-op": "nothing (names are checked)",
    "--output-prefix": "nothing (names are checked)", "-bs": "nothing (one image per job)",
    "--batch-size": "nothing (one image per job)", "-mt": "model_type",
    "--model-type": "model_type", "-sch": "nothing (the model's own scheduler is used)",
    "--schedulers": "nothing (the model's own scheduler is used)",
    "--plugin-modules": "plugins=", "--dry-run": "nothing (it is checked)",
    "-oc": "nothing (it is checked)", "--output-configs": "nothing (it is checked)",
}


@dataclasses.dataclass(frozen=True)
class ConformanceReport:
    """What :func:`check_model_type` rendered and checked.

    :param model_type: the model type's name.
    :param modes: the modes rendered (from its capabilities).
    :param images: the image files written, by mode.
    :param checks: one line per check that passed, for a test log.
    """

    model_type: str
    modes: tuple[str, ...]
    images: Mapping[str, tuple[str, ...]]
    checks: tuple[str, ...]


def _name_number(value: Any) -> str:
    return str(value).replace(".", "-")


def _name_part(token: str, value: Any) -> str:
    """How a declared option's value shows in a file name (see ``OptionSpec.token``)."""
    if token:
        return f"{token}_{_name_number(value)}"
    if isinstance(value, str):  # a URI by its name, as schedulers are written
        return value.split(";")[0].strip().replace(".", "-")
    return _name_number(value)


def _flag_value(arguments: Sequence[str], flags: Sequence[str]) -> tuple[bool, str | None]:
    """Whether one of ``flags`` is in ``arguments``, and the word after it."""
    for index, word in enumerate(arguments):
        if word in flags:
            following = arguments[index + 1] if index + 1 < len(arguments) else None
            return True, following
    return False, None


def _write_inputs(folder: str, size: Any) -> tuple[str, str]:
    """A deterministic picture and an inpaint mask of ``size`` (an int or (width, height))."""
    from PIL import Image, ImageDraw

    width, height = (size, size) if isinstance(size, int) else tuple(size)
    picture = Image.new("RGB", (width, height))
    picture.putdata([(x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                      (x + y) * 255 // max(width + height - 2, 1))
                     for y in range(height) for x in range(width)])
    ImageDraw.Draw(picture).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4),
                                    fill=(240, 40, 40))
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4),
                                   fill=255)
    image_path, mask_path = os.path.join(folder, "image.png"), os.path.join(folder, "mask.png")
    picture.save(image_path)
    mask.save(mask_path)
    return image_path, mask_path


def _same_pixels(first: str, second: str) -> bool:
    from PIL import Image

    with Image.open(first) as one, Image.open(second) as other:
        return (one.size == other.size and one.mode == other.mode
                and one.tobytes() == other.tobytes())


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def _fail(model_type: str, mode: str, message: str, result: CliResult | None = None) -> None:
    text = f"model type {model_type!r}, {mode}: {message}"
    if result is not None:
        output = (result.stderr.strip() or result.stdout.strip())[-2000:]
        text += f"\n--- dgenerate said (exit status {result.exit_code}):\n{output}"
    raise AssertionError(text)


def check_model_type(model_type: str, model_path: str | os.PathLike[str],
                     output_dir: str | os.PathLike[str], *,
                     plugins: Sequence[str] = (),
                     extra_args: Sequence[str] = (),
                     axes: Mapping[str, Sequence[str]] | None = None,
                     modes: Sequence[str] | None = None,
                     image: str | os.PathLike[str] | None = None,
                     mask: str | os.PathLike[str] | None = None,
                     input_size: int | tuple[int, int] = 64,
                     scale: int = 1,
                     size: str | int | None = 64,
                     steps: int = 2,
                     seed: int = 7,
                     guidance: float = 5.0,
                     strength: float = 0.8,
                     prompt: str = "a red circle",
                     env: Mapping[str, str | None] | None = None) -> ConformanceReport:
    """Render with a model type the way users do, and check what it writes.

    For every mode the model type's ``Capabilities`` declare (txt2img; img2img with
    ``image``; inpaint with ``image`` and ``mask``), this runs the ``dgenerate`` command
    in this process (:func:`run_cli`) on ``model_path`` (a tiny model keeps it quick)
    and asserts that:

    * it succeeds and writes one image per job: the product of the ``axes`` values (and
      of the defaults of declared axes not given);
    * every image has the expected size: ``size`` in txt2img (and for image prompts,
      ``batched_images=False``), the input image's size times ``scale`` otherwise
      (``scale=4`` for a x4 upscaler);
    * the file names follow the naming rules: ``s_<seed>``, ``st_<strength>`` when the
      model type takes a strength, ``g_<guidance>``, ``i_<steps>``, the tokens of
      declared options at their positions, then ``step_<N>`` for N = 1 ... jobs, every
      combination of axis values exactly once;
    * ``--output-configs`` writes a config beside every image, and running the config of
      the last job (``dgenerate --file``) gives the same pixels, bit for bit;
    * ``--dry-run`` with a model path that does not exist succeeds, creates nothing and
      lists the same file names: planning loads nothing.

    :param model_type: the ``--model-type`` name.
    :param plugins: given to ``--plugin-modules`` (paths, module or entry-point names).
        Installed third-party plugins are not auto-loaded (``env`` may change that).
    :param extra_args: more arguments for every command, e.g. options your model needs.
        Options this function sets (prompts, seeds, steps ...) and declared axes (give
        those in ``axes``) are refused here.
    :param axes: values to try per declared axis, by flag:
        ``{"--eta-values": ["0", "1"]}``; the flag must be an axis that applies.
    :param modes: render only these of the declared modes.
    :param image: the img2img / inpaint input (sides a multiple of 8); by default a
        generated picture of ``input_size``.
    :param mask: the inpaint mask; by default a generated one.
    :param size: the txt2img ``--output-size`` (``None``: the model type's default size,
        which its capabilities must then declare).
    :param env: environment changes for the commands (``None`` removes a variable).
    :returns: a :class:`ConformanceReport`; any failure raises ``AssertionError`` naming
        the model type, the mode and what differed, with dgenerate's own message.
    """
    import itertools
    import math
    import re

    from dgenerate.kernel.render.declared import declared_options

    from .values import Size, parse_size

    root = os.fspath(output_dir)
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        raise AssertionError(f"output_dir {root!r} is not empty: give a fresh folder (the "
                             "checks count the files written)")
    environment: dict[str, str | None] = {"DGENERATE_DISABLE_PLUGINS": "*", **(env or {})}
    plugin_args = ["--plugin-modules", *plugins] if plugins else []
    extra_args = [str(word) for word in extra_args]

    manager = isolated_plugin_manager(plugins=plugins)
    registry = manager.registry(Category.MODEL_TYPE)
    spec = registry.find(model_type)
    if spec is None:
        raise AssertionError(f"model type {model_type!r} is not registered; `dgenerate "
                             f"--model-type help` lists {', '.join(registry.names())}"
                             + ("" if plugins else " (load yours with plugins=[...])"))
    name = spec.name
    capabilities = spec.capabilities
    for word in extra_args:
        if word in _RESERVED_FLAGS:
            raise AssertionError(f"extra_args: {word} is set by check_model_type; use "
                                 f"{_RESERVED_FLAGS[word]}")

    # ------------------------------------------------ what the names must show
    options = [option.spec for option in declared_options(manager)
               if option.spec.applies_to(name)]
    by_flag = {flag: option for option in options for flag in option.flags}
    axes = dict(axes or {})
    for flag, texts in axes.items():
        option = by_flag.get(flag)
        if option is None or not option.axis:
            known = sorted(option.flag for option in options if option.axis)
            raise AssertionError(f"axes: {flag} is not a declared axis that applies to model "
                                 f"type {name!r} (those are: {', '.join(known) or 'none'})")
        if isinstance(texts, str) or not texts:
            raise AssertionError(f"axes: give {flag} a list of values, such as ['1', '2']")
    given_flags = {flag for option in options for flag in option.flags
                   if any(word in option.flags for word in (*axes, *extra_args))}
    for option in options:
        if option.axis and any(flag in extra_args for flag in option.flags):
            raise AssertionError(f"extra_args: {option.flag} is an axis; give its values in "
                                 f"axes={{{option.flag!r}: [...]}}")

    axis_args: list[str] = []
    dimensions: list[tuple[Any, list[Any]]] = []  # (option, values) of each axis in effect
    fixed: list[tuple[Any, Any]] = []  # single-valued options in effect
    for option in options:
        given = next((flag for flag in option.flags if flag in axes), None)
        applies = all(flag in given_flags for flag in option.requires)
        if option.axis:
            if given is not None:
                texts = [str(text) for text in axes[given]]
                axis_args += [option.flag, *texts]
                dimensions.append((option, [option.type(text) for text in texts]))
            elif option.default is not None and applies:
                dimensions.append((option, list(option.default)))
            continue
        present, word = _flag_value(extra_args, option.flags)
        if present:
            fixed.append((option, True if option.switch else option.type(word)))
        elif option.default is not None and applies:
            fixed.append((option, option.default))
    jobs = math.prod(len(values) for _, values in dimensions)

    def stems(mode: str) -> list[str]:
        """The expected name of every job without its step number (in no order)."""
        base = [(100, f"s_{seed}")]
        if mode != "txt2img" and capabilities.strength:
            base.append((200, f"st_{_name_number(strength)}"))
        base += [(300, f"g_{_name_number(guidance)}"), (400, f"i_{steps}")]
        named = [(option, value) for option, value in fixed]
        found = []
        for combination in itertools.product(*(values for _, values in dimensions)):
            chosen = named + [(option, value) for (option, _), value in
                              zip(dimensions, combination, strict=True)]
            # declaration order among equal positions, after the kernel's own parts
            order = {option.name: index for index, option in enumerate(options)}
            chosen.sort(key=lambda item: order[item[0].name])
            parts = base + [(option.position, _name_part(option.token, value))
                            for option, value in chosen
                            if option.token is not None and value is not None
                            and value is not False]
            found.append("_".join(part for _, part in sorted(parts, key=lambda p: p[0])))
        return found

    # ------------------------------------------------------------- each mode
    wanted = set(_MODE_ORDER) if modes is None else {str(mode) for mode in modes}
    declared_modes = {str(mode) for mode in capabilities.modes}
    unknown = wanted - set(_MODE_ORDER)
    if unknown:
        raise AssertionError(f"modes: unknown {sorted(unknown)}; use {', '.join(_MODE_ORDER)}")
    run_modes = [mode for mode in _MODE_ORDER if mode in declared_modes and mode in wanted]
    if not run_modes:
        raise AssertionError(f"model type {name!r} declares the modes "
                             f"{sorted(declared_modes)}, none of {sorted(wanted)}")
    inputs = os.path.join(root, "inputs")
    os.makedirs(inputs)
    generated_image, generated_mask = _write_inputs(inputs, input_size)
    image = os.fspath(image) if image is not None else generated_image
    mask = os.fspath(mask) if mask is not None else generated_mask

    checks: list[str] = []
    written: dict[str, tuple[str, ...]] = {}
    for mode in run_modes:
        folder = os.path.join(root, mode)
        rendered, again, dry = (os.path.join(folder, part) for part in ("render", "again",
                                                                         "dry-run"))
        mode_args: list[str] = []
        # image prompts (batched_images false) do not set the size: txt2img's size applies
        if mode == "txt2img" or not capabilities.batched_images:
            if size is not None:
                expected_size = parse_size(str(size))
                mode_args = ["--output-size", str(size)]
            elif capabilities.default_size is not None:
                expected_size = capabilities.default_size
            else:
                raise AssertionError(f"model type {name!r} declares no default size: give "
                                     "size=")
        if mode != "txt2img":
            seed_text = image if mode == "img2img" else f"{image};mask={mask}"
            mode_args += ["--image-seeds", seed_text]
            if capabilities.strength:
                mode_args += ["--image-seed-strengths", str(strength)]
            if capabilities.batched_images:
                width, height = _image_size(image)
                expected_size = Size(width * scale, height * scale)
        common = ["--model-type", name, "--prompts", prompt, "--seeds", str(seed),
                  "--inference-steps", str(steps), "--guidance-scales", str(guidance),
                  *mode_args, *axis_args, *extra_args]

        # 1. render, with a config beside every image
        result = run_cli(os.fspath(model_path), *plugin_args, *common, "--output-path",
                         rendered, "--output-configs", env=environment)
        if result.exit_code != 0:
            _fail(name, mode, "the render failed", result)
        files = sorted(os.listdir(rendered)) if os.path.isdir(rendered) else []
        images = [file for file in files if file.endswith(".png")]
        if len(images) != jobs:
            _fail(name, mode, f"expected {jobs} image(s) (one per job), found {len(images)}: "
                              f"{images}", result)
        pattern = re.compile(r"^(?P<stem>.+)_step_(?P<step>\d+)\.png$")
        matches = [pattern.match(file) for file in images]
        if not all(matches):
            _fail(name, mode, f"file names must end with _step_<N>.png: {images}")
        steps_seen = sorted(int(match["step"]) for match in matches)
        if steps_seen != list(range(1, jobs + 1)):
            _fail(name, mode, f"the step numbers must be 1 to {jobs}, once each; the files "
                              f"are {images}")
        expected_stems = sorted(stems(mode))
        actual_stems = sorted(match["stem"] for match in matches)
        if actual_stems != expected_stems:
            _fail(name, mode, "the file names do not follow the naming rules (kernel parts "
                              "and declared tokens by position):\n  expected "
                              f"{[stem + '_step_N.png' for stem in expected_stems]}\n  found    "
                              f"{images}")
        checks.append(f"{mode}: {jobs} image(s), names follow the naming rules")
        for file in images:
            found_size = _image_size(os.path.join(rendered, file))
            if tuple(found_size) != tuple(expected_size):
                _fail(name, mode, f"{file} is {found_size[0]}x{found_size[1]}, expected "
                                  f"{expected_size.width}x{expected_size.height}")
        checks.append(f"{mode}: every image is {expected_size.width}x{expected_size.height}")
        configs = [file[:-4] + ".dgen" for file in images]
        missing = [config for config in configs if config not in files]
        if missing:
            _fail(name, mode, f"--output-configs wrote no config for {missing}")

        # 2. the config of the last job renders the same pixels
        last = next(file for file in images if file.endswith(f"_step_{jobs}.png"))
        config = os.path.join(rendered, last[:-4] + ".dgen")
        with open(config, encoding="utf-8") as handle:
            text = handle.read()
        if f"--model-type {name}" not in text:
            _fail(name, mode, f"the config {config} does not name --model-type {name}:\n{text}")
        result = run_cli(*plugin_args, "--file", config, "--output-path", again,
                         env=environment)
        if result.exit_code != 0:
            _fail(name, mode, f"running the written config {config} failed:\n{text}", result)
        again_images = sorted(file for file in os.listdir(again) if file.endswith(".png"))
        expected_again = re.sub(r"_step_\d+\.png$", "_step_1.png", last)
        if again_images != [expected_again]:
            _fail(name, mode, f"running the config {config} wrote {again_images}, expected "
                              f"[{expected_again!r}]:\n{text}")
        if not _same_pixels(os.path.join(rendered, last), os.path.join(again, expected_again)):
            _fail(name, mode, f"running the config {config} gave other pixels than {last}: "
                              f"a value that changes the image is missing from the config "
                              f"(declare it with reproduce=True), or the model type is not "
                              f"deterministic for a seed:\n{text}")
        checks.append(f"{mode}: the written config reproduces {last} bit for bit")

        # 3. a dry run plans the same files without any model
        absent = os.path.join(folder, "no-such-model")
        result = run_cli(absent, *plugin_args, *common, "--output-path", dry, "--dry-run",
                         env=environment)
        if result.exit_code != 0:
            _fail(name, mode, "--dry-run with a model path that does not exist failed; a dry "
                              "run must plan without loading the model", result)
        if os.path.exists(dry):
            _fail(name, mode, f"--dry-run created {dry}; it must write nothing")
        listed = sorted(os.path.basename(line.strip()) for line in result.stdout.splitlines()
                        if line.startswith("    "))
        if listed != images:
            _fail(name, mode, f"--dry-run listed {listed}, but the render wrote {images}")
        checks.append(f"{mode}: --dry-run loads nothing and lists the same {jobs} file(s)")
        written[mode] = tuple(os.path.join(rendered, file) for file in images)
    return ConformanceReport(name, tuple(run_modes), written, tuple(checks))


try:  # the fixtures exist only where pytest does
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture
    def plugin_manager() -> Any:
        """An isolated plugin manager with the builtin plugins loaded."""
        return isolated_plugin_manager()
