"""Base class of sub-commands (``dgenerate --sub-command NAME ...``)."""

from __future__ import annotations

import abc
import argparse
import inspect
from collections.abc import Sequence

from ..context import PluginContext

__all__ = ["SubCommand"]


class SubCommand(abc.ABC):
    """A command with its own arguments, run by ``--sub-command NAME ARGS...``.

    Everything after the name belongs to the sub-command, except ``-v``,
    ``--plugin-modules`` and ``--offline-mode``, which dgenerate handles and
    exposes through :attr:`context`. Declare arguments in :meth:`add_arguments`
    and do the work in :meth:`run`; the class docstring is the description in
    ``--help``.
    """

    def __init__(self, context: PluginContext, name: str) -> None:
        self.context = context
        self.name = name

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:  # noqa: B027
        """Declare the sub-command's arguments (none by default)."""

    def create_parser(self) -> argparse.ArgumentParser:
        """The argument parser; override only to change more than the arguments."""
        parser = argparse.ArgumentParser(
            prog=self.name,
            description=inspect.getdoc(type(self)),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.add_arguments(parser)
        return parser

    def format_help(self) -> str:
        return self.create_parser().format_help()

    @abc.abstractmethod
    def run(self, options: argparse.Namespace) -> int:
        """Do the work; return the exit status (0 for success)."""

    def main(self, args: Sequence[str]) -> int:
        """Parse ``args`` and run. Usage errors exit with status 2, as argparse does."""
        return self.run(self.create_parser().parse_args(list(args)))
