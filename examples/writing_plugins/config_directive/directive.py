"""The \\repeat directive."""

from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext


def repeat(context: DirectiveContext, args: Sequence[str]) -> int:
    """\\repeat COUNT TEXT...

    Print TEXT (the remaining arguments joined by spaces) COUNT times, one per line.
    """
    if len(args) < 2 or not args[0].isdigit():
        raise DgenerateError("\\repeat: usage is \\repeat COUNT TEXT...")
    for _ in range(int(args[0])):
        print(" ".join(args[1:]))
    return 0
