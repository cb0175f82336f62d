"""Directives that steer the script."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext, ScriptExit


def exit_script(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\exit [STATUS]

    End the script (and dgenerate) now, with exit status STATUS (default 0), a
    whole number from 0 to 255 (what an operating system can report).
    """
    if len(args) > 1 or (args and not (args[0].isascii() and args[0].strip().isdigit())):
        raise DgenerateError("\\exit: usage is \\exit [STATUS], STATUS a whole number "
                             f"from 0 to 255, got {' '.join(args)!r}")
    status = int(args[0]) if args else 0
    if status > 255:
        raise DgenerateError(f"\\exit: the status {args[0]!r} is above 255; exit statuses "
                             "are whole numbers from 0 to 255")
    raise ScriptExit(status)


def reset_line_number(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\reset_lineno

    Number the following lines from 1 in error messages (for scripts fed in
    pieces, as an interactive shell does).
    """
    context.reset_line_number()
