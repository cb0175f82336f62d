"""Directives that print."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DirectiveContext


def print_text(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\print TEXT

    Print TEXT after template and environment variable expansion; no shell
    parsing (quotes and globs are printed as written).
    """
    print(context.expand_environment(args[0]))


def echo(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\echo TOKENS...

    Print the tokens after shell parsing, separated by spaces: quotes removed,
    escapes resolved, globs expanded - what an invocation would receive.
    """
    print(" ".join(args))
