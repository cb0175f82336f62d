"""Directives that steer the script."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext, ScriptExit


def exit_script(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\exit [STATUS]

    End the script (and dgenerate) now, with exit status STATUS (default 0).
    """
    if len(args) > 1 or (args and not args[0].lstrip("-").isdigit()):
        raise DgenerateError("\\exit: usage is \\exit [STATUS], STATUS a whole number")
    raise ScriptExit(int(args[0]) if args else 0)


def reset_line_number(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\reset_lineno

    Number the following lines from 1 in error messages (for scripts fed in
    pieces, as an interactive shell does).
    """
    context.reset_line_number()
