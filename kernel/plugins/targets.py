"""Turning a spec's ``target`` into the object it names, and reading its arguments.

Targets are imported only here, when a feature is used or its detailed help is
requested, so that listings never import implementation modules.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from typing import Any

from dgenerate.plugin_api.args import ArgSpec, arguments_of
from dgenerate.plugin_api.errors import DgenerateError, PluginLoadError
from dgenerate.plugin_api.specs import ArgumentedSpec, PluginSpec

__all__ = ["missing_requirements", "resolve_target", "spec_arguments"]


def _owner(spec: PluginSpec) -> str:
    provider = f" from {spec.provider.describe()}" if spec.provider else ""
    return f"{spec.category.singular} {spec.name!r}{provider}"


def missing_requirements(spec: PluginSpec) -> list[str]:
    """The modules in ``spec.requires`` that cannot be found (nothing is imported)."""
    missing = []
    for module in spec.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def _import_module(spec: PluginSpec, module_part: str) -> Any:
    base = spec.provider.module if spec.provider else None
    if not module_part.startswith(".") and module_part:
        return importlib.import_module(module_part)
    if base is None:
        raise ImportError("a relative target needs the registering module")
    if not module_part:
        return sys.modules[base]
    registering = sys.modules.get(base)
    package = base if getattr(registering, "__path__", None) else base.rpartition(".")[0]
    return importlib.import_module(module_part, package)


def resolve_target(spec: PluginSpec) -> Any:
    """Import and return ``spec.target``; problems raise :class:`PluginLoadError`."""
    target = spec.target
    if not isinstance(target, str):
        return target
    missing = missing_requirements(spec)
    if missing:
        raise PluginLoadError(
            f"{_owner(spec)} needs the Python module{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} not installed")
    module_part, _, attribute = target.partition(":")
    try:
        module = _import_module(spec, module_part)
        return functools.reduce(getattr, attribute.split("."), module)
    except DgenerateError:
        raise
    except Exception as error:
        raise PluginLoadError(
            f"{_owner(spec)} names the target {target!r}, which cannot be loaded: "
            f"{type(error).__name__}: {error}") from error


def spec_arguments(spec: PluginSpec) -> tuple[ArgSpec, ...]:
    """The URI arguments of a spec: declared ones, else read from the target's signature."""
    if isinstance(spec, ArgumentedSpec) and spec.args is not None:
        return spec.args
    target = resolve_target(spec)
    try:
        return arguments_of(target)
    except (TypeError, ValueError) as error:
        raise PluginLoadError(
            f"the arguments of {_owner(spec)} cannot be read from its target: {error}"
        ) from error
