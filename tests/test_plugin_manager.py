"""The kernel plugin manager: one load path, the failure policy, registries, conflicts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.plugins.manager import PluginManager
from dgenerate.kernel.plugins.sources import Origin, PluginSource
from dgenerate.kernel.plugins.targets import resolve_target
from dgenerate.plugin_api import Category
from dgenerate.plugin_api.errors import (
    PluginConflictError,
    PluginError,
    PluginLoadError,
    PluginSpecError,
    UnknownPluginError,
)
from dgenerate.plugin_api.testing import isolated_plugin_manager

HEADER = "from dgenerate.plugin_api import *\n"
BASIC = ("flip", "grayscale", "invert", "mirror")  # builtin image processors


def write(path: Path, code: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + textwrap.dedent(code))
    return path


def processor_plugin(path: Path, name: str, target: str = ":Proc", extra: str = "") -> Path:
    return write(path, f"""
        class Proc(ImageProcessor):
            def __init__(self, level: int = 1, **kwargs):
                super().__init__(**kwargs)
                self.level = level
            def process(self, image):
                return image

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name={name!r}, summary="test", target={target!r})
        {extra}
        """)


def autoloaded(path: Path) -> PluginSource:
    """A source as the entry-point scan would produce it: not requested by the user."""
    return PluginSource(path.stem, Origin.PATH, str(path), requested=False)


def test_builtins_come_from_our_entry_points(plugin_manager: PluginManager) -> None:
    loaded = plugin_manager.plugins["image-ops"]
    assert loaded.source.origin is Origin.BUILTIN
    assert loaded.provider.distribution == "dgenerate"
    registry = plugin_manager.registry(Category.IMAGE_PROCESSOR)
    assert set(BASIC) <= set(registry.names())
    assert registry.get("flip").provider.plugin == "image-ops"


def test_load_py_file(plugin_manager: PluginManager, tmp_path: Path) -> None:
    path = processor_plugin(tmp_path / "single.py", "single")
    plugin_manager.load_specifiers([str(path)])
    spec = plugin_manager.registry(Category.IMAGE_PROCESSOR).get("single")
    assert spec.provider.origin == "path"
    assert spec.provider.location == str(path)
    processor = KernelContext(plugin_manager).create(Category.IMAGE_PROCESSOR, "single;level=3")
    assert processor.level == 3


def test_load_folder_with_relative_target(plugin_manager: PluginManager, tmp_path: Path) -> None:
    folder = tmp_path / "my_plugin"
    write(folder / "__init__.py", """
        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="folder-proc", summary="s", target=".impl:Impl")
        """)
    write(folder / "impl.py", """
        class Impl(ImageProcessor):
            def process(self, image):
                return image
        """)
    plugin_manager.load_specifiers(["my_plugin"], base_dir=str(tmp_path))
    spec = plugin_manager.registry(Category.IMAGE_PROCESSOR).get("folder-proc")
    assert resolve_target(spec).__name__ == "Impl"


def test_two_folders_with_the_same_name_do_not_collide(tmp_path: Path) -> None:
    first = processor_plugin(tmp_path / "a" / "plug" / "__init__.py", "first").parent
    second = processor_plugin(tmp_path / "b" / "plug" / "__init__.py", "second").parent
    manager = isolated_plugin_manager(builtins=False, plugins=[str(first), str(second)])
    assert sorted(manager.plugins) == ["plug", "plug-2"]
    registry = manager.registry(Category.IMAGE_PROCESSOR)
    assert registry.get("first").provider.location == str(first)
    assert registry.get("second").provider.plugin == "plug-2"
    assert resolve_target(registry.get("first")) is not resolve_target(registry.get("second"))


def test_an_installed_name_taken_by_a_module_is_a_conflict(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    processor_plugin(tmp_path / "clashing_mod.py", "clashing")
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = isolated_plugin_manager(builtins=True)
    with pytest.raises(PluginLoadError, match="another plugin with the same name is already "
                                              "loaded from dgenerate.plugins_builtin"):
        manager.load(PluginSource("image-ops", Origin.MODULE, "clashing_mod", requested=True))


def test_load_module_name(plugin_manager: PluginManager, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    processor_plugin(tmp_path / "importable_plugin_mod.py", "by-module")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_manager.load_specifiers(["importable_plugin_mod"])
    assert plugin_manager.registry(Category.IMAGE_PROCESSOR).get("by-module").provider.origin == (
        "module")


def test_load_entry_point_name_is_idempotent(plugin_manager: PluginManager) -> None:
    before = plugin_manager.generation
    plugin_manager.load_specifiers(["image-ops"])  # already autoloaded: a no-op
    assert plugin_manager.generation == before


@pytest.mark.parametrize(("specifier", "message"), [
    ("missing/plugin.py", "plugin module path 'missing/plugin.py' does not exist"),
    ("./nowhere", "does not exist"),
    ("no_such_plugin_anywhere", "was not found: it is not a .py file, a folder"),
])
def test_requested_specifier_not_found(plugin_manager: PluginManager, tmp_path: Path,
                                       specifier: str, message: str) -> None:
    with pytest.raises(PluginLoadError, match=message):
        plugin_manager.load_specifiers([specifier], base_dir=str(tmp_path))


def test_folder_without_init_and_non_python_file(plugin_manager: PluginManager,
                                                 tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(PluginLoadError, match="has no __init__.py"):
        plugin_manager.load_specifiers(["folder"], base_dir=str(tmp_path))
    with pytest.raises(PluginLoadError, match="not a Python"):
        plugin_manager.load_specifiers(["notes.txt"], base_dir=str(tmp_path))


def test_requested_plugin_that_raises_is_an_error(plugin_manager: PluginManager,
                                                  tmp_path: Path) -> None:
    path = write(tmp_path / "raises.py", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginLoadError,
                       match=r"plugin 'raises' .* failed to import: RuntimeError: boom at import"):
        plugin_manager.load_specifiers([str(path)])


def test_autoloaded_plugin_that_raises_is_one_warning(plugin_manager: PluginManager,
                                                      tmp_path: Path) -> None:
    path = write(tmp_path / "raises.py", "raise RuntimeError('boom')\n")
    assert plugin_manager.load(autoloaded(path)) is None
    assert len(plugin_manager.warnings) == 1
    warning = plugin_manager.warnings[0]
    assert "plugin 'raises'" in warning and "RuntimeError: boom" in warning
    assert "DGENERATE_DISABLE_PLUGINS=raises" in warning
    assert set(BASIC) <= set(plugin_manager.registry(Category.IMAGE_PROCESSOR).names())


def test_strict_mode_turns_autoload_failures_into_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "raises.py", "raise RuntimeError('boom')\n")
    manager = PluginManager(warn=lambda message: None,
                            environ={"DGENERATE_STRICT_PLUGINS": "1"})
    with pytest.raises(PluginLoadError, match="boom"):
        manager.load(autoloaded(path))


def test_skip_plugin(plugin_manager: PluginManager, tmp_path: Path) -> None:
    path = write(tmp_path / "skips.py", "raise SkipPlugin('needs a GPU')\n")
    assert plugin_manager.load(autoloaded(path)) is None
    assert plugin_manager.warnings == []
    assert plugin_manager.problems[-1].skipped_itself
    with pytest.raises(PluginLoadError, match="declined to load: needs a GPU"):
        plugin_manager.load_specifiers([str(path)])


def test_clash_with_builtin_names_both_providers(plugin_manager: PluginManager,
                                                 tmp_path: Path) -> None:
    path = processor_plugin(tmp_path / "impostor.py", "flip")
    plugin_manager.load_specifiers([str(path)])
    with pytest.raises(PluginConflictError) as raised:
        plugin_manager.registry(Category.IMAGE_PROCESSOR)
    message = str(raised.value)
    assert "two plugins provide the image processor 'flip'" in message
    assert "plugin 'image-ops' (builtin, dgenerate" in message
    assert "plugin 'impostor' (path" in message


def test_alias_clash(tmp_path: Path) -> None:
    manager = isolated_plugin_manager(builtins=False)
    manager.load_specifiers([str(processor_plugin(tmp_path / "one.py", "one"))])
    write(tmp_path / "two.py", """
        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="two", aliases=["one"], summary="s", target=":X")
        """)
    manager.load_specifiers([str(tmp_path / "two.py")])
    with pytest.raises(PluginConflictError, match="'one'"):
        manager.registry(Category.IMAGE_PROCESSOR)


def test_registry_is_rebuilt_when_plugins_are_added(plugin_manager: PluginManager,
                                                    tmp_path: Path) -> None:
    registry = plugin_manager.registry(Category.IMAGE_PROCESSOR)
    assert plugin_manager.registry(Category.IMAGE_PROCESSOR) is registry  # cached
    assert "late" not in registry
    context = KernelContext(plugin_manager)
    context.import_plugins([str(processor_plugin(tmp_path / "late.py", "late"))])
    assert "late" in plugin_manager.registry(Category.IMAGE_PROCESSOR)
    assert context.create(Category.IMAGE_PROCESSOR, "late").level == 1


def test_misspelled_hook_is_reported(plugin_manager: PluginManager, tmp_path: Path) -> None:
    path = write(tmp_path / "typo.py", """
        @hookimpl
        def dgenerate_image_processor():
            return []
        """)
    with pytest.raises(PluginLoadError,
                       match="implements hooks that do not exist: dgenerate_image_processor"):
        plugin_manager.load_specifiers([str(path)])
    assert "typo" not in plugin_manager.plugins


@pytest.mark.parametrize(("body", "message"), [
    ("yield 'not a spec'", "returned 'not a spec', which is not of type ImageProcessorSpec"),
    ("yield LatentsProcessorSpec(name='x', summary='s', target=':X')",
     "which is not of type ImageProcessorSpec"),
    ("yield ImageProcessorSpec(name='Bad Name', summary='s', target=':X')",
     "invalid image processor spec 'Bad Name'"),
    ("raise ValueError('oops')", "ValueError: oops"),
])
def test_invalid_specs(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "invalid.py", f"""
        @hookimpl
        def dgenerate_image_processors():
            {body}
        """)
    requested = isolated_plugin_manager(builtins=False, plugins=[str(path)])
    with pytest.raises(PluginSpecError, match=message):
        requested.registry(Category.IMAGE_PROCESSOR)
    quiet = isolated_plugin_manager(builtins=True)
    quiet.load(autoloaded(path))
    assert set(BASIC) <= set(quiet.registry(Category.IMAGE_PROCESSOR).names())
    assert "could not list its image processors" in quiet.warnings[0]


def test_configure_is_historic(plugin_manager: PluginManager, tmp_path: Path) -> None:
    context = KernelContext(plugin_manager, verbose=True)
    plugin_manager.configure(context)
    path = write(tmp_path / "configured.py", """
        SEEN = []

        @hookimpl
        def dgenerate_configure(context):
            SEEN.append(context.verbose)
        """)
    plugin_manager.load_specifiers([str(path)])
    assert plugin_manager.plugins["configured"].module.SEEN == [True]


def test_configure_failure_of_a_late_plugin(plugin_manager: PluginManager,
                                            tmp_path: Path) -> None:
    plugin_manager.configure(KernelContext(plugin_manager))
    path = write(tmp_path / "badconf.py", """
        @hookimpl
        def dgenerate_configure(context):
            raise RuntimeError('cannot configure')
        """)
    with pytest.raises(PluginLoadError, match="cannot configure"):
        plugin_manager.load_specifiers([str(path)])
    assert "badconf" not in plugin_manager.plugins


def test_target_that_cannot_be_imported(plugin_manager: PluginManager, tmp_path: Path) -> None:
    path = processor_plugin(tmp_path / "badtarget.py", "bad-target",
                            target="no_such_module_xyz:Thing")
    plugin_manager.load_specifiers([str(path)])
    with pytest.raises(PluginLoadError,
                       match=r"image processor 'bad-target' from plugin 'badtarget' .* names the "
                             r"target 'no_such_module_xyz:Thing', which cannot be loaded: "
                             r"ModuleNotFoundError"):
        KernelContext(plugin_manager).create(Category.IMAGE_PROCESSOR, "bad-target")


def test_missing_requirement(plugin_manager: PluginManager, tmp_path: Path) -> None:
    write(tmp_path / "needs.py", """
        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="needs", summary="s", target="x:Y",
                                     requires=["no_such_module_xyz"])
        """)
    plugin_manager.load_specifiers([str(tmp_path / "needs.py")])
    with pytest.raises(PluginLoadError,
                       match="needs the Python module no_such_module_xyz, which is not installed"):
        KernelContext(plugin_manager).create(Category.IMAGE_PROCESSOR, "needs")


def test_constructor_failure_names_the_plugin(plugin_manager: PluginManager,
                                              tmp_path: Path) -> None:
    write(tmp_path / "ctor.py", """
        class Proc(ImageProcessor):
            def __init__(self, **kwargs):
                raise ZeroDivisionError('division by zero')
            def process(self, image):
                return image

        @hookimpl
        def dgenerate_image_processors():
            yield ImageProcessorSpec(name="ctor", summary="s", target=":Proc")
        """)
    plugin_manager.load_specifiers([str(tmp_path / "ctor.py")])
    with pytest.raises(PluginError, match="image processor 'ctor' could not be created from "
                                          "'ctor': ZeroDivisionError"):
        KernelContext(plugin_manager).create(Category.IMAGE_PROCESSOR, "ctor")


def test_unknown_name_lists_close_matches(plugin_manager: PluginManager) -> None:
    with pytest.raises(UnknownPluginError,
                       match="unknown image processor 'mirrr'; did you mean 'mirror'"):
        KernelContext(plugin_manager).create(Category.IMAGE_PROCESSOR, "mirrr")


def test_disable_variable() -> None:
    manager = PluginManager(warn=lambda message: None,
                            environ={"DGENERATE_DISABLE_PLUGINS": "image-ops,upscaler"})
    manager.autoload()
    assert "image-ops" not in manager.plugins and "upscaler" not in manager.plugins
    with pytest.raises(UnknownPluginError, match="No image processors are installed"):
        manager.registry(Category.IMAGE_PROCESSOR).get("flip")
    everything_but_builtins = PluginManager(environ={"DGENERATE_DISABLE_PLUGINS": "*"})
    everything_but_builtins.autoload()
    assert "image-ops" in everything_but_builtins.plugins


def test_option_clash_between_plugins(plugin_manager: PluginManager, tmp_path: Path) -> None:
    from dgenerate.kernel.cli.parser import build_parser

    for name in ("opt_a", "opt_b"):
        write(tmp_path / f"{name}.py", """
            @hookimpl
            def dgenerate_add_options(options):
                options.add_option("--shared-flag", action="store_true", help="x")
            """)
        plugin_manager.load_specifiers([str(tmp_path / f"{name}.py")])
    with pytest.raises(PluginConflictError,
                       match=r"the option --shared-flag is declared twice: by plugin 'opt_a' .* "
                             r"and by plugin 'opt_b'"):
        build_parser(plugin_manager)


@pytest.mark.parametrize(("flags", "message"), [
    ("'--verbose', action='store_true'", "declared twice: by dgenerate itself"),
    ("'positional'", "options must start with '-'"),
    ("'-x'", "without a long --name"),
    ("'--bad', action='no-such-action'", "declares an invalid option --bad"),
])
def test_invalid_plugin_options(plugin_manager: PluginManager, tmp_path: Path, flags: str,
                                message: str) -> None:
    from dgenerate.kernel.cli.parser import build_parser

    write(tmp_path / "options.py", f"""
        @hookimpl
        def dgenerate_add_options(options):
            options.add_option({flags}, help="x")
        """)
    plugin_manager.load_specifiers([str(tmp_path / "options.py")])
    with pytest.raises(PluginError, match=message):
        build_parser(plugin_manager)
