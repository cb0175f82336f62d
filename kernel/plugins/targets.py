"""Turning a spec's ``target`` into the object it names, and reading its arguments.

Targets are imported only here, when a feature is used or its detailed help is
requested, so that listings never import implementation modules.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import weakref
from collections.abc import Iterator
from typing import Any

from dgenerate.plugin_api.args import ArgSpec, arguments_of
from dgenerate.plugin_api.errors import DgenerateError, PluginError, PluginLoadError, ScriptExit
from dgenerate.plugin_api.specs import ArgumentedSpec, PluginSpec

__all__ = ["blamed", "missing_requirements", "remember", "resolve_target", "spec_arguments"]


def _owner(spec: PluginSpec) -> str:
    provider = f" from {spec.provider.describe()}" if spec.provider else ""
    return f"{spec.category.singular} {spec.name!r}{provider}"


#: The spec of each plugin object the kernel created (a processor ...), to name it on failure.
_MADE_BY: weakref.WeakKeyDictionary[Any, PluginSpec] = weakref.WeakKeyDictionary()


def remember(made: Any, spec: PluginSpec) -> Any:
    """Note that ``made`` was created from ``spec``; return it."""
    with contextlib.suppress(TypeError):  # not weakly referable or not hashable: unnamed
        _MADE_BY[made] = spec
    return made


def _culprit(error: BaseException) -> PluginSpec | None:
    """The spec of the innermost remembered object the traceback passes through (as ``self``
    of a method): a processor failing inside a sub-command is the processor's fault."""
    found, frame = None, error.__traceback__
    while frame is not None:
        with contextlib.suppress(Exception):  # not weakly referable, unhashable ...: not ours
            found = _MADE_BY.get(frame.tb_frame.f_locals.get("self")) or found
        frame = frame.tb_next
    return found


@contextlib.contextmanager
def blamed(spec: PluginSpec | None = None, action: str = "failed") -> Iterator[None]:
    """Run plugin code: an unexpected exception escaping it becomes a :class:`PluginError`
    naming the plugin (``plugin 'x' (path, /a/x.py): image processor 'boom' failed:
    ZeroDivisionError: ...``), the one of the innermost remembered object it passed
    through, else ``spec``'s. The plugin's own :class:`DgenerateError` passes unchanged."""
    try:
        yield
    except (DgenerateError, ScriptExit, BrokenPipeError):
        raise
    except Exception as error:
        culprit = _culprit(error) or spec
        if culprit is None:
            raise
        provider = culprit.provider.describe() + ": " if culprit.provider else ""
        raise PluginError(
            f"{provider}{culprit.category.singular} {culprit.name!r} "
            f"{action if culprit is spec else 'failed'}: {type(error).__name__}: {error}"
        ) from error


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
