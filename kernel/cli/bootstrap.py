"""A first look at the command line, before any plugin is loaded.

Plugins add options to the main parser, so the options that decide *which*
plugins to load (``--plugin-modules``), how to report (``-v``), and whether a
sub-command takes over (``--sub-command NAME``) are read first, on their own.
``--version`` is answered here without loading anything.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

__all__ = ["Bootstrap", "asks_for_version", "bootstrap"]

SUB_COMMAND_OPTION = "--sub-command"


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    verbose: bool
    offline_mode: bool
    plugin_modules: tuple[str, ...]
    main_args: tuple[str, ...]
    sub_command: str | None = None
    sub_command_args: tuple[str, ...] = ()


@dataclasses.dataclass
class _Meta:
    verbose: bool = False
    offline_mode: bool = False
    plugin_modules: list[str] = dataclasses.field(default_factory=list)


def _take_meta(arguments: Sequence[str]) -> tuple[_Meta, list[str], list[str]]:
    """Pull -v, -ofm and --plugin-modules out of ``arguments``, by exact spelling only.

    argparse is not used here: it matches single-dash prefixes (it would read a
    sub-command's ``-o`` as ``-ofm``), and only exact names may be taken from
    arguments that belong to a sub-command. Returns the options, the other arguments,
    and ``arguments`` with the ``--plugin-modules`` values gathered at the end (so that
    the main parser, which reads them too, cannot take the model path for one).

    ``--plugin-modules`` takes its first value, then further values only while they name
    a plugin (see :func:`~dgenerate.kernel.plugins.sources.names_a_plugin`): in
    ``--plugin-modules p.py MODEL --prompts ...`` MODEL stays the model path.
    """
    meta, rest, main, given = _Meta(), [], [], False
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        index += 1
        if argument in ("-v", "--verbose"):
            meta.verbose = True
        elif argument in ("-ofm", "--offline-mode"):
            meta.offline_mode = True
        elif argument == "--plugin-modules" or argument.startswith("--plugin-modules="):
            given = True
            if "=" in argument:
                meta.plugin_modules.append(argument.partition("=")[2])
                continue
            from ..plugins.sources import names_a_plugin  # not imported for --version

            taken, first = meta.plugin_modules, len(meta.plugin_modules)
            while index < len(arguments) and not arguments[index].startswith("-") and (
                    len(taken) == first or names_a_plugin(arguments[index])):
                taken.append(arguments[index])
                index += 1
            continue
        else:
            rest.append(argument)
        main.append(argument)
    return meta, rest, main + (["--plugin-modules", *meta.plugin_modules] if given else [])


def _split_sub_command(argv: Sequence[str]) -> tuple[list[str], str | None, list[str]] | None:
    for index, argument in enumerate(argv):
        if argument == SUB_COMMAND_OPTION:
            if index + 1 >= len(argv):
                return list(argv[:index]), None, []
            return list(argv[:index]), argv[index + 1], list(argv[index + 2:])
        if argument.startswith(SUB_COMMAND_OPTION + "="):
            return list(argv[:index]), argument.partition("=")[2], list(argv[index + 1:])
    return None


def asks_for_version(argv: Sequence[str]) -> bool:
    """``--version`` given to dgenerate itself (not to a sub-command)."""
    split = _split_sub_command(argv)
    own = split[0] if split is not None else argv
    return "--version" in own


def bootstrap(argv: Sequence[str]) -> Bootstrap:
    """Read the meta options; arguments after ``--sub-command NAME`` go to the sub-command,
    except ``-v``, ``-ofm`` and ``--plugin-modules``, which dgenerate handles for it."""
    split = _split_sub_command(argv)
    if split is None:
        known, _, main = _take_meta(argv)
        return Bootstrap(known.verbose, known.offline_mode, tuple(known.plugin_modules),
                         tuple(main))
    before, name, after = split
    if name is None or name.startswith("-"):
        raise argparse.ArgumentError(None, "--sub-command needs the name of a sub-command")
    known, unexpected, _ = _take_meta(before)
    if unexpected:
        raise argparse.ArgumentError(
            None, f"{' '.join(unexpected)}: only -v, -ofm and --plugin-modules may come "
                  "before --sub-command; the sub-command's own arguments go after its name")
    known_after, rest, _ = _take_meta(after)
    return Bootstrap(
        verbose=known.verbose or known_after.verbose,
        offline_mode=known.offline_mode or known_after.offline_mode,
        plugin_modules=(*known.plugin_modules, *known_after.plugin_modules),
        main_args=tuple(before),
        sub_command=name,
        sub_command_args=tuple(rest),
    )
