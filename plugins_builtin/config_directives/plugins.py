"""The ``\\import_plugins`` directive."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext


def import_plugins(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\import_plugins PLUGIN...

    Load plugins as --plugin-modules does: a .py file, a folder with
    __init__.py, an installed plugin's name or a module name. Relative paths are
    relative to the script's folder. What they provide is usable from the next
    line on.
    """
    if not args:
        raise DgenerateError("\\import_plugins: usage is \\import_plugins PLUGIN...")
    context.import_plugins(list(args), base_dir=context.script_directory)
