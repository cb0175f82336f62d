"""Importing a plugin's registration module from its :class:`PluginSource`."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

from .sources import ENTRY_POINT_GROUP, Origin, PluginSource, synthetic_module_name

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


def _import_path(source: PluginSource) -> types.ModuleType:
    module_name = synthetic_module_name(source.value)
    if module_name in sys.modules:
        return sys.modules[module_name]
    if os.path.isdir(source.value):
        spec = importlib.util.spec_from_file_location(
            module_name, os.path.join(source.value, "__init__.py"),
            submodule_search_locations=[source.value])
    else:
        spec = importlib.util.spec_from_file_location(module_name, source.value)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {source.value}")
    module = importlib.util.module_from_spec(spec)
    # registered before running it, so dataclasses, pickling and relative imports work
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def import_source(source: PluginSource) -> types.ModuleType:
    """Import and return the registration module; exceptions propagate unchanged."""
    if source.origin is Origin.PATH:
        return _import_path(source)
    if source.origin is Origin.MODULE:
        return importlib.import_module(source.value)
    return _import_entry_point(source)
