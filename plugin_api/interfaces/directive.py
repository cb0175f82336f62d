"""The shape of config-script directives (provisional until the config runner lands)."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, Protocol

from ..context import PluginContext

__all__ = ["Directive", "DirectiveContext"]


class DirectiveContext(PluginContext, Protocol):
    """What a directive sees of the running config script."""

    @property
    def variables(self) -> MutableMapping[str, Any]:
        """The script's template variables; directives may read and set them."""


class Directive(Protocol):
    """A directive is a callable: ``\\name arg1 arg2`` calls ``directive(context, [args])``.

    It returns an exit status (``None`` means 0); a non-zero status stops the
    script like a failed command. The arguments arrive already split and
    unquoted by the config lexer.
    """

    def __call__(self, context: DirectiveContext, args: Sequence[str]) -> int | None: ...
