"""The kernel's plugin manager: one load path, one failure policy, cached registries."""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pluggy

from dgenerate.plugin_api import hookspecs
from dgenerate.plugin_api.errors import (
    DgenerateError,
    PluginConflictError,
    PluginError,
    PluginLoadError,
    PluginSpecError,
    SkipPlugin,
)
from dgenerate.plugin_api.markers import HOOK_PREFIX, PROJECT_NAME
from dgenerate.plugin_api.specs import Category, PluginSpec, Provider
from dgenerate.plugin_api.version import API_VERSION, API_VERSION_STRING

from ..version import DISTRIBUTION, dgenerate_version
from .loading import import_source
from .registry import Registry
from .sources import Origin, PluginSource, entry_point_sources, sources_from_specifiers

__all__ = ["API_VERSION_ATTRIBUTE", "DISABLE_VARIABLE", "STRICT_VARIABLE", "LoadedPlugin",
           "PluginManager"]

#: Comma separated plugin names not to autoload; ``*`` disables every non-builtin plugin.
DISABLE_VARIABLE = "DGENERATE_DISABLE_PLUGINS"
#: When set (to anything but 0/false), a broken autoloaded plugin is an error, not a warning.
STRICT_VARIABLE = "DGENERATE_STRICT_PLUGINS"
#: What a registration module may set to the plugin API version it was written against.
API_VERSION_ATTRIBUTE = "DGENERATE_API_VERSION"


class _HookManager(pluggy.PluginManager):
    def parse_hookimpl_opts(self, plugin: object, name: str):  # type: ignore[override]
        # look only at dgenerate_* attributes: never getattr() the rest of a module
        if not name.startswith(HOOK_PREFIX):
            return None
        return super().parse_hookimpl_opts(plugin, name)


@dataclasses.dataclass(frozen=True)
class LoadedPlugin:
    source: PluginSource
    module: types.ModuleType
    provider: Provider


@dataclasses.dataclass(frozen=True)
class PluginProblem:
    """An autoloaded plugin that was skipped, and why."""

    source: PluginSource
    message: str
    skipped_itself: bool = False


def _stderr_warning(message: str) -> None:
    print(f"dgenerate: warning: {message}", file=sys.stderr)


def _describe(source: PluginSource) -> str:
    if source.origin is Origin.PATH:
        return f"plugin {source.name!r} ({source.value})"
    if source.origin is Origin.BUILTIN:
        return f"builtin plugin {source.name!r} ({source.value})"
    return f"plugin {source.name!r} (module {source.value})"


def _contributes_nothing(module: object) -> str:
    unmarked = sorted(name for name in getattr(module, "__dict__", {})
                      if name.startswith(HOOK_PREFIX))
    return ("contributes nothing: it has no hook implementations. Expected functions named "
            "dgenerate_<hook> (dgenerate_image_processors ...) decorated with @hookimpl from "
            "dgenerate.plugin_api, in the file itself or, for a package, in its __init__.py "
            "or its register.py" + (f" ({', '.join(unmarked)} lack @hookimpl)" if unmarked
                                    else ""))


def _api_version_problem(module: object) -> str | None:
    """Why the plugin API version a registration module states (``DGENERATE_API_VERSION =
    "0.3"``) cannot be served, or None: the major numbers must be equal and the plugin's
    minor number at most ours. A module that states none is assumed to fit."""
    stated = getattr(module, API_VERSION_ATTRIBUTE, None)
    if stated is None:
        return None
    parts = str(stated).strip().split(".") if isinstance(stated, str) else ()
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return (f"states {API_VERSION_ATTRIBUTE} = {stated!r}, which is not a version "
                f"MAJOR.MINOR such as {API_VERSION_STRING!r}")
    major, minor = map(int, parts)
    if major == API_VERSION[0] and minor <= API_VERSION[1]:
        return None
    advice = ("upgrade dgenerate" if (major, minor) > API_VERSION
              else "use a release of the plugin written for this dgenerate")
    return (f"needs plugin API {major}.{minor} ({API_VERSION_ATTRIBUTE}), but dgenerate "
            f"{dgenerate_version()} provides plugin API {API_VERSION_STRING}; {advice}")


class PluginManager:
    """Loads plugins from :class:`PluginSource` records and builds registries from them.

    Create one per program run (tests create their own); nothing is global.
    ``warn`` receives warnings about skipped plugins (default: standard error);
    they are also kept in :attr:`warnings`.
    """

    def __init__(
        self,
        *,
        warn: Callable[[str], None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.hooks = _HookManager(PROJECT_NAME)
        self.hooks.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.problems: list[PluginProblem] = []
        self.warnings: list[str] = []
        self.generation = 0
        self.disabled = frozenset(
            name.strip() for name in environ.get(DISABLE_VARIABLE, "").split(",") if name.strip())
        self.strict = environ.get(STRICT_VARIABLE, "").strip().lower() not in ("", "0", "false")
        self._warn = warn or _stderr_warning
        self._autoloaded = False
        self._registries: dict[Category, tuple[int, Registry[Any]]] = {}

    # ------------------------------------------------------------ loading

    def autoload(self) -> None:
        """Load every plugin in the entry-point group once (builtin and installed)."""
        if self._autoloaded:
            return
        self._autoloaded = True
        for source in entry_point_sources():
            if source.name in self.disabled or (
                    "*" in self.disabled and source.origin is not Origin.BUILTIN):
                continue
            self.load(source)

    def load_specifiers(self, specifiers: Sequence[str], base_dir: str | None = None) -> None:
        """Load plugins the user asked for (``--plugin-modules``, ``\\import_plugins``)."""
        for source in sources_from_specifiers(specifiers, base_dir):
            self.load(source)

    def load(self, source: PluginSource) -> LoadedPlugin | None:
        """Import and register one plugin; apply the failure policy on problems."""
        existing = self.plugins.get(source.name)
        if existing is not None and existing.source.value == source.value:
            return existing
        if existing is not None and source.origin is Origin.PATH:
            # two plugin folders may share a base name (a/plugin, b/plugin): number the second
            source = dataclasses.replace(source, name=self._free_name(source.name))
            existing = None
        if existing is not None:
            return self._fail(source, (
                f"cannot be loaded because another plugin with the same name is already "
                f"loaded from {existing.source.value}"))
        try:
            module = import_source(source)
        except SkipPlugin as skip:
            if source.requested or self.strict:
                raise PluginLoadError(f"{_describe(source)} declined to load: {skip}") from skip
            self.problems.append(PluginProblem(source, str(skip), skipped_itself=True))
            return None
        except Exception as error:
            return self._fail(source, f"failed to import: {self._problem(error)}", error)
        return self.register_module(module, source)

    def _free_name(self, name: str) -> str:
        number = 2
        while f"{name}-{number}" in self.plugins:
            number += 1
        return f"{name}-{number}"

    def register_module(self, module: types.ModuleType | object,
                        source: PluginSource) -> LoadedPlugin | None:
        """Register an already imported registration module (or any object with hooks)."""
        if self.hooks.is_registered(module):
            name = self.hooks.get_name(module)
            return self.plugins.get(name) if name else None
        incompatible = _api_version_problem(module)
        if incompatible:
            return self._fail(source, incompatible)
        try:
            self.hooks.register(module, name=source.name)
        except pluggy.PluginValidationError as error:
            return self._fail(source, f"has an invalid hook: {error}", error)
        except Exception as error:  # e.g. raised by a replayed dgenerate_configure
            if self.hooks.is_registered(module):
                self.hooks.unregister(module)
            return self._fail(
                source, f"failed while registering: {type(error).__name__}: {error}", error)
        if not self.hooks.get_hookcallers(module):
            self.hooks.unregister(module)
            return self._fail(source, _contributes_nothing(module))
        pending = self._unknown_hooks(module)
        if pending:
            self.hooks.unregister(module)
            return self._fail(source, (
                f"implements hooks that do not exist: {', '.join(pending)} "
                "(misspelled, or written for a newer dgenerate)"))
        loaded = LoadedPlugin(source, module, self._provider(source, module))  # type: ignore[arg-type]
        self.plugins[source.name] = loaded
        self.generation += 1
        return loaded

    def _unknown_hooks(self, module: object) -> list[str]:
        unknown = []
        for caller in self.hooks.get_hookcallers(module) or []:
            if caller.spec is None:
                unknown.append(caller.name)
        return sorted(unknown)

    def _provider(self, source: PluginSource, module: Any) -> Provider:
        builtin = source.origin is Origin.BUILTIN
        return Provider(
            plugin=source.name,
            origin=str(source.origin),
            distribution=DISTRIBUTION if builtin else None,
            version=dgenerate_version() if builtin else None,
            module=getattr(module, "__name__", None),
            location=source.value,
        )

    def _fail(self, source: PluginSource, problem: str, error: BaseException | None = None) -> None:
        self._apply_policy(source, f"{_describe(source)} {problem}", error,
                           error_type=PluginLoadError, outcome="It was skipped")

    def _apply_policy(self, source: PluginSource, message: str, error: BaseException | None,
                      *, error_type: type[PluginError], outcome: str) -> None:
        """The failure policy, in one place: an error for plugins the user asked for (or
        in strict mode), otherwise one warning saying how to disable the plugin."""
        if source.requested or self.strict:
            raise error_type(message) from error
        self.problems.append(PluginProblem(source, message))
        warning = f"{message}. {outcome}; to stop loading it, set {DISABLE_VARIABLE}={source.name}"
        self.warnings.append(warning)
        self._warn(warning)

    @staticmethod
    def _problem(error: BaseException) -> str:
        return str(error) if isinstance(error, DgenerateError) else (
            f"{type(error).__name__}: {error}")

    # ---------------------------------------------------------- registries

    def registry(self, category: Category) -> Registry[Any]:
        """The registry of a category, rebuilt whenever plugins were added since."""
        cached = self._registries.get(category)
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        registry = Registry(category, self._contributions(category))
        self._registries[category] = (self.generation, registry)
        return registry

    def _contributions(self, category: Category) -> Iterable[PluginSpec]:
        caller = getattr(self.hooks.hook, category.hook)
        for implementation in caller.get_hookimpls():
            loaded = self.plugins.get(implementation.plugin_name)
            if loaded is None:
                continue
            try:
                specs = list(implementation.function() or ())
                for spec in specs:
                    if not isinstance(spec, category.spec_class):
                        raise PluginSpecError(
                            f"{category.hook}() returned {spec!r}, which is not of type "
                            f"{category.spec_class.__name__}")
            except Exception as error:
                self._apply_policy(
                    loaded.source, f"{loaded.provider.describe()} could not list its "
                                   f"{category.plural}: {self._problem(error)}", error,
                    error_type=PluginSpecError, outcome="They were skipped")
                continue
            for spec in specs:
                yield dataclasses.replace(spec, provider=loaded.provider)

    # ------------------------------------------------------------ behaviour

    def call_each(self, hook: str, arguments: Callable[[LoadedPlugin], dict[str, Any]]) -> None:
        """Call a behaviour hook one plugin at a time, sorted by plugin name.

        ``arguments`` builds the keyword arguments for each plugin (so a plugin
        can be told apart in what it declares); each implementation receives the
        subset it asks for. Conflicts are always errors; other failures follow
        the load failure policy.
        """
        caller = getattr(self.hooks.hook, hook)
        implementations = sorted(caller.get_hookimpls(), key=lambda impl: impl.plugin_name)
        for implementation in implementations:
            loaded = self.plugins.get(implementation.plugin_name)
            if loaded is None:
                continue
            offered = arguments(loaded)
            try:
                implementation.function(**{name: offered[name] for name in implementation.argnames})
            except PluginConflictError:
                raise
            except Exception as error:
                self._apply_policy(
                    loaded.source,
                    f"{loaded.provider.describe()} failed in {hook}: {self._problem(error)}",
                    error, error_type=PluginError, outcome="Its contribution was skipped")

    def configure(self, context: Any) -> None:
        """Call the historic ``dgenerate_configure`` hook (replayed for later plugins)."""
        try:
            self.hooks.hook.dgenerate_configure.call_historic(kwargs={"context": context})
        except DgenerateError:
            raise
        except Exception as error:
            raise self._hook_failure("dgenerate_configure", error) from error

    def _hook_failure(self, hook: str, error: BaseException) -> PluginError:
        """``error`` escaped a call of every implementation of ``hook``: name the plugin
        whose implementation raised it (its code is in the traceback)."""
        owners = {getattr(impl.function, "__code__", None): impl.plugin_name
                  for impl in getattr(self.hooks.hook, hook).get_hookimpls()}
        culprit, frame = "a plugin", error.__traceback__
        while frame is not None:
            loaded = self.plugins.get(owners.get(frame.tb_frame.f_code, ""))
            culprit = loaded.provider.describe() if loaded else culprit
            frame = frame.tb_next
        return PluginError(f"{culprit} failed in {hook}: {type(error).__name__}: {error}")
