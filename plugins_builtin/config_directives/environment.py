"""Directives for environment variables."""

from __future__ import annotations

import os
from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext


def set_environment(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\env [NAME=VALUE ...]

    Set environment variables (several at once); without arguments, print every
    environment variable as NAME=VALUE.
    """
    assignments = context.expand_environment(args[0]).split()
    if not assignments:
        for name, value in sorted(os.environ.items()):
            print(f"{name}={value}")
        return
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals or not name:
            raise DgenerateError(f"\\env: {assignment!r} is not NAME=VALUE")
        os.environ[name] = value


def unset_environment(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\unset_env NAME...

    Remove environment variables, in order; names may come from expansions.
    """
    names = context.expand_environment(args[0]).split()
    if not names:
        raise DgenerateError("\\unset_env: usage is \\unset_env NAME...")
    for name in names:
        os.environ.pop(name, None)
