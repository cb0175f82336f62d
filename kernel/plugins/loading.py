"""Importing a plugin's registration module from its :class:`PluginSource`."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

from dgenerate.plugin_api.markers import HOOK_PREFIX, PROJECT_NAME

from .sources import ENTRY_POINT_GROUP, Origin, PluginSource, synthetic_module_name

#: pluggy marks hook implementations with this attribute
HOOKIMPL_ATTRIBUTE = f"{PROJECT_NAME}_impl"

__all__ = ["import_source"]


def _import_entry_point(source: PluginSource) -> types.ModuleType:
    from stevedore import named

    failures: list[BaseException] = []
    manager = named.NamedExtensionManager(
        ENTRY_POINT_GROUP,
        names=[source.name],
        on_load_failure_callback=lambda _manager, _entry_point, error: failures.append(error),
        on_missing_entrypoints_callback=None,
    )
    for extension in manager.extensions:
        if extension.entry_point.value.split(":")[0].strip() == source.value:
            return extension.plugin
    if failures:
        raise failures[0]
    raise ImportError(f"entry point {source.name!r} ({source.value}) is no longer installed")


def _exec_file(module_name: str, location: str, folder: str | None = None) -> types.ModuleType:
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, location, submodule_search_locations=[folder] if folder else None)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {location}")
    module = importlib.util.module_from_spec(spec)
    # registered before running it, so dataclasses, pickling and relative imports work
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _import_package(folder: str) -> types.ModuleType:
    return _exec_file(synthetic_module_name(folder), os.path.join(folder, "__init__.py"), folder)


def _import_path(source: PluginSource) -> types.ModuleType:
    """A folder is imported as a package; a file inside a package (``mypkg/register.py``)
    as a submodule of its outermost package, so that its relative imports and targets
    work; any other file on its own."""
    if os.path.isdir(source.value):
        return _import_package(source.value)
    root, names = source.value[:-3], []
    while os.path.isfile(os.path.join(os.path.dirname(root), "__init__.py")) and names[:1] != [""]:
        root, name = os.path.split(root)
        names.insert(0, name)
    if not names:
        return _exec_file(synthetic_module_name(source.value), source.value)
    return importlib.import_module(".".join([_import_package(root).__name__, *names]))


def _registration_module(module: types.ModuleType) -> types.ModuleType:
    """A package whose ``__init__`` holds no hook implementations registers through its
    ``register`` submodule, when it has one."""
    if not hasattr(module, "__path__") or any(
            name.startswith(HOOK_PREFIX) and hasattr(value, HOOKIMPL_ATTRIBUTE)
            for name, value in vars(module).items()):
        return module
    name = f"{module.__name__}.register"
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    return importlib.import_module(name) if found else module


def import_source(source: PluginSource) -> types.ModuleType:
    """Import and return the registration module; exceptions propagate unchanged."""
    if source.origin is Origin.PATH:
        return _registration_module(_import_path(source))
    if source.origin is Origin.MODULE:
        return _registration_module(importlib.import_module(source.value))
    return _import_entry_point(source)
