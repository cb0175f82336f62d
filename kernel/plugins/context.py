"""The kernel's implementation of :class:`~dgenerate.plugin_api.PluginContext`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api.specs import Category, PluginSpec

from .manager import PluginManager

__all__ = ["KernelContext"]


class KernelContext:
    """Services of one dgenerate run, handed to plugins."""

    def __init__(self, manager: PluginManager, *, verbose: bool = False,
                 offline_mode: bool = False) -> None:
        self.manager = manager
        self._verbose = verbose
        self._offline_mode = offline_mode

    @property
    def verbose(self) -> bool:
        return self._verbose

    @property
    def offline_mode(self) -> bool:
        return self._offline_mode

    def specs(self, category: Category) -> Sequence[PluginSpec]:
        return self.manager.registry(category).specs()

    def create(self, category: Category, uri: str, **context: Any) -> Any:
        from .factory import create_from_uri  # the URI machinery is not needed to start up

        return create_from_uri(self.manager.registry(category), uri, supplied=context)

    def import_plugins(self, specifiers: Sequence[str], base_dir: str | None = None) -> None:
        self.manager.load_specifiers(specifiers, base_dir)
