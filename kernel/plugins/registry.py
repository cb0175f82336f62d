"""A registry: the specs of one category, indexed by name and alias."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Generic, TypeVar

from dgenerate.plugin_api.errors import PluginConflictError, UnknownPluginError
from dgenerate.plugin_api.specs import Category, PluginSpec

__all__ = ["Registry"]

S = TypeVar("S", bound=PluginSpec)

_LIST_ALL_BELOW = 25


def normalize_name(category: Category, name: str) -> str:
    """Users may write directives with their backslash; names are matched in lower case."""
    if category is Category.DIRECTIVE:
        name = name.lstrip("\\")
    return name.strip()


class Registry(Generic[S]):
    """Every spec of one category; a name or alias given twice is an error naming both."""

    def __init__(self, category: Category, specs: Iterable[S]) -> None:
        self.category = category
        self._specs: list[S] = []
        self._by_name: dict[str, S] = {}
        for spec in specs:
            self._add(spec)
        self._specs.sort(key=lambda spec: spec.name)

    def _add(self, spec: S) -> None:
        for name in spec.names:
            existing = self._by_name.get(name)
            if existing is not None:
                raise PluginConflictError(
                    f"two plugins provide the {self.category.singular} {name!r}: "
                    f"{_provider(existing)} and {_provider(spec)}. Names must be unique "
                    "(builtin names are reserved); uninstall or disable one of them with "
                    "DGENERATE_DISABLE_PLUGINS=<plugin name>")
        for name in spec.names:
            self._by_name[name] = spec
        self._specs.append(spec)

    def specs(self, include_hidden: bool = False) -> list[S]:
        """The specs sorted by name; hidden ones only on request."""
        return [spec for spec in self._specs if include_hidden or not spec.hidden]

    def names(self, include_hidden: bool = False) -> list[str]:
        return [spec.name for spec in self.specs(include_hidden)]

    def find(self, name: str) -> S | None:
        key = normalize_name(self.category, name)
        return self._by_name.get(key) or self._by_name.get(key.lower())

    def get(self, name: str) -> S:
        """The spec for ``name`` or an alias; unknown names raise with close matches."""
        spec = self.find(name)
        if spec is not None:
            return spec
        raise UnknownPluginError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        key = normalize_name(self.category, name)
        known = sorted(self._by_name)
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        message = f"unknown {self.category.singular} {name!r}"
        if close:
            message += "; did you mean " + " or ".join(repr(match) for match in close) + "?"
        else:
            message += "."
        visible = self.names()
        if not visible:
            message += f" No {self.category.plural} are installed."
        elif len(visible) < _LIST_ALL_BELOW:
            message += f" Available {self.category.plural}: {', '.join(visible)}."
        return message

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def __len__(self) -> int:
        return len(self._specs)


def _provider(spec: PluginSpec) -> str:
    return spec.provider.describe() if spec.provider else "an unknown plugin"
