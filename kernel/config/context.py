"""The :class:`~dgenerate.plugin_api.DirectiveContext` of a running config script."""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from dgenerate.plugin_api.errors import DgenerateError

from ..plugins.context import KernelContext

if TYPE_CHECKING:
    from .runner import ConfigRunner

__all__ = ["ScriptContext"]


class ScriptContext(KernelContext):
    """Kernel services plus the script's variables, parsing and evaluation."""

    def __init__(self, runner: ConfigRunner) -> None:
        super().__init__(runner.manager, verbose=runner.verbose, offline_mode=runner.offline_mode)
        self.runner = runner

    @property
    def variables(self) -> MutableMapping[str, Any]:
        return self.runner.variables

    @property
    def script_directory(self) -> str:
        return self.runner.source.directory

    def shell_parse(self, text: str, *, expand_globs: bool = True,
                    operators: bool = False) -> list[str]:
        from dgenerate.plugin_api.shell import shell_parse

        return shell_parse(text, expand_globs=expand_globs, operators=operators)

    def expand(self, text: str) -> str:
        return self.runner.expand(text)

    def expand_environment(self, text: str) -> str:
        from dgenerate.plugin_api.shell import expand_env

        return expand_env(text)

    def evaluate(self, expression: str) -> Any:
        from .expressions import evaluate

        return evaluate(expression, {**self.runner.functions(), **self.variables})

    def help_text(self, option: str, names: Sequence[str]) -> str:
        return self.runner.commands.listing_text(self, option, names)

    def download(self, url: str, output: str | None = None, *, overwrite: bool = False,
                 text: bool = False) -> str:
        return self.web_cache.download(url, output, overwrite=overwrite, text=text,
                                       base_dir=os.getcwd())

    def reset_line_number(self) -> None:
        self.runner.reset_line_number()

    def clear_caches(self, names: Sequence[str] = ()) -> None:
        unknown = [name for name in names if name not in self.caches.names()]
        if unknown:
            raise DgenerateError(f"unknown object cache {unknown[0]!r}; the caches are "
                                 f"{', '.join(self.caches.names())}")
        self.caches.clear(list(names) or None)

    def cache_names(self) -> list[str]:
        return self.caches.names()
