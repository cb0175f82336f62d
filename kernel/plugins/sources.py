"""Where plugins come from, as records: nothing here imports a plugin.

Every plugin - builtin, pip-installed, given to ``--plugin-modules`` or to the
``\\import_plugins`` directive - becomes a :class:`PluginSource`, and all of them
go through the same loader. Only the failure policy differs: a plugin the user
asked for (``requested``) that fails is an error, an autoloaded one a warning.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib.util
import os
from collections.abc import Iterable, Sequence

from dgenerate.plugin_api.errors import PluginLoadError

__all__ = ["BUILTIN_MODULE_PREFIX", "ENTRY_POINT_GROUP", "Origin", "PluginSource",
           "entry_point_sources", "names_a_plugin", "sources_from_specifiers"]

#: The entry-point group every plugin, builtin or third-party, is listed in.
ENTRY_POINT_GROUP = "dgenerate.plugins"

#: Entry points whose module starts with this are the builtin plugins.
BUILTIN_MODULE_PREFIX = "dgenerate.plugins_builtin."


class Origin(enum.StrEnum):
    BUILTIN = "builtin"
    INSTALLED = "installed"
    PATH = "path"
    MODULE = "module"


@dataclasses.dataclass(frozen=True)
class PluginSource:
    """A plugin before loading.

    ``value`` is the registration module's import name (entry points and module
    names) or an absolute path to a ``.py`` file or a package folder.
    """

    name: str
    origin: Origin
    value: str
    requested: bool = False

    @property
    def is_entry_point(self) -> bool:
        return self.origin in (Origin.BUILTIN, Origin.INSTALLED)


def _entry_points() -> list:
    # stevedore's cached scan of the installed distributions; loads nothing.
    from stevedore import named

    manager = named.NamedExtensionManager(
        ENTRY_POINT_GROUP, names=[], on_missing_entrypoints_callback=None)
    return list(manager.list_entry_points())


def entry_point_sources(requested: bool = False) -> list[PluginSource]:
    """Every plugin listed in the ``dgenerate.plugins`` group, sorted by name."""
    sources: dict[tuple[str, str], PluginSource] = {}
    for entry_point in _entry_points():
        module = entry_point.value.split(":")[0].strip()
        origin = Origin.BUILTIN if module.startswith(BUILTIN_MODULE_PREFIX) else Origin.INSTALLED
        sources[(entry_point.name, module)] = PluginSource(
            entry_point.name, origin, module, requested)
    return sorted(sources.values(), key=lambda source: (source.name, source.value))


def _path_name(path: str) -> str:
    folder, base = os.path.split(os.path.normpath(path))
    if base == "register.py" and os.path.isfile(os.path.join(folder, "__init__.py")):
        base = os.path.basename(folder)  # mypkg/register.py is the plugin "mypkg"
    return base[:-3] if base.endswith(".py") else base


def synthetic_module_name(path: str) -> str:
    """A unique import name for a plugin loaded from a path.

    Two folders both called ``my_plugin`` must not collide, so the name carries
    a hash of the absolute path.
    """
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:10]
    stem = "".join(char if char.isalnum() else "_" for char in _path_name(path))
    return f"dgenerate_plugin_{stem}_{digest}"


def _looks_like_path(specifier: str) -> bool:
    return (specifier.endswith(".py") or os.sep in specifier
            or (os.altsep is not None and os.altsep in specifier)
            or specifier.startswith((".", "~")))


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def names_a_plugin(value: str) -> bool:
    """Whether a further value of ``--plugin-modules`` is a plugin rather than the main
    command's model path: a ``.py`` path (existing or not, to report it), a package folder,
    the name of an installed plugin or an importable module. Any other existing path
    (a model file or folder) or name (a Hugging Face repository ...) is not."""
    path = os.path.expanduser(value)
    if value.endswith(".py") or os.path.isfile(os.path.join(path, "__init__.py")):
        return True
    if os.path.exists(path):
        return False
    return any(source.name == value for source in entry_point_sources()) or (
        all(part.isidentifier() for part in value.split(".")) and _module_exists(value))


def sources_from_specifiers(
    specifiers: Iterable[str], base_dir: str | None = None
) -> list[PluginSource]:
    """Turn ``--plugin-modules`` / ``\\import_plugins`` arguments into sources.

    Each specifier is, in this order: an existing ``.py`` file; an existing
    folder with ``__init__.py``; an entry-point name in the plugin group; an
    importable module name. Relative paths are resolved against ``base_dir``
    (default: the current directory). Anything else is an error naming it.
    """
    entry_points: Sequence[PluginSource] | None = None
    sources = []
    for specifier in specifiers:
        expanded = os.path.expanduser(specifier)
        path = os.path.abspath(os.path.join(base_dir or os.getcwd(), expanded))
        if os.path.basename(path) == "__init__.py":
            path = os.path.dirname(path)  # the package itself
        if os.path.isfile(path):
            if not path.endswith(".py"):
                raise PluginLoadError(
                    f"plugin module {specifier!r} is a file but not a Python (.py) file")
            sources.append(PluginSource(_path_name(path), Origin.PATH, path, True))
            continue
        if os.path.isdir(path):
            if not os.path.isfile(os.path.join(path, "__init__.py")):
                raise PluginLoadError(
                    f"plugin module folder {specifier!r} has no __init__.py; a plugin folder "
                    "must be a Python package")
            sources.append(PluginSource(_path_name(path), Origin.PATH, path, True))
            continue
        if _looks_like_path(specifier):
            raise PluginLoadError(f"plugin module path {specifier!r} does not exist")
        if entry_points is None:
            entry_points = entry_point_sources(requested=True)
        by_name = [source for source in entry_points if source.name == specifier]
        if by_name:
            sources.extend(by_name)
            continue
        if _module_exists(specifier):
            sources.append(PluginSource(specifier, Origin.MODULE, specifier, True))
            continue
        raise PluginLoadError(
            f"plugin module {specifier!r} was not found: it is not a .py file, a folder, "
            "the name of an installed plugin, or an importable module")
    return sources
