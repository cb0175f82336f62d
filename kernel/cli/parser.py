"""The main command's argument parser: the kernel's few options plus every plugin's."""

from __future__ import annotations

import argparse
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, PluginConflictError, PluginSpecError

from ..plugins.manager import LoadedPlugin, PluginManager
from ..render.declared import add_declared_options, declared_options
from ..render.options import add_render_options
from ..version import dgenerate_version
from .help_options import HELP_OPTIONS

__all__ = ["CONFIG_DESTS", "META_DESTS", "UsageError", "build_parser"]

DESCRIPTION = """\
Render images with diffusion models, trying every combination of the values
given (prompts, seeds, steps, guidance, input images, processors ...), or run
config scripts and sub-commands. Features come from plugins; the --X-help
options list what is installed."""

#: Options that only the real command line takes: they choose and feed a config script.
CONFIG_DESTS = frozenset({"file", "shell", "no_stdin", "assignments", "strict_templates"})

#: Options about the program itself rather than one render.
META_DESTS = frozenset(
    {"help", "version", "sub_command", "plugin_modules"} | {h.dest for h in HELP_OPTIONS}
    | CONFIG_DESTS)


class UsageError(DgenerateError):
    """An argument parsing error of an invocation inside a config script."""


class _Parser(argparse.ArgumentParser):
    """argparse, except that inside config scripts a usage error is an ordinary error
    (located by the script runner) instead of ending the process."""

    raise_errors = False

    def error(self, message: str):  # type: ignore[override]
        if self.raise_errors:
            raise UsageError(f"{message} (see dgenerate --help)")
        super().error(message)


class _Assign(argparse.Action):
    """--set and --setp share one list, so their order on the command line is kept."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        assignments = list(getattr(namespace, self.dest, None) or [])
        kind = "setp" if option_string == "--setp" else "set"
        assignments.extend((kind, value) for value in values)
        setattr(namespace, self.dest, assignments)

class _Registrar:
    """The :class:`~dgenerate.plugin_api.OptionRegistrar` given to one plugin at a time."""

    def __init__(self, parser: argparse.ArgumentParser, owners: dict[str, str]) -> None:
        self._parser = parser
        self._owners = owners
        self._group: Any = None
        self._plugin = ""
        self.dests: set[str] = set()

    def bind(self, loaded: LoadedPlugin) -> _Registrar:
        self._plugin = loaded.provider.describe()
        self._group = self._parser.add_argument_group(f"options of plugin {loaded.source.name!r}")
        return self

    def add_option(self, *flags: str, **kwargs: Any) -> None:
        if not flags or not all(isinstance(flag, str) and flag.startswith("-") for flag in flags):
            raise PluginSpecError(
                f"{self._plugin} declares an option with flags {flags!r}; options must start "
                "with '-' (positional arguments are reserved to the kernel)")
        if not any(flag.startswith("--") for flag in flags):
            raise PluginSpecError(
                f"{self._plugin} declares the option {flags[0]!r} without a long --name")
        for flag in flags:
            owner = self._owners.get(flag)
            if owner is not None:
                raise PluginConflictError(
                    f"the option {flag} is declared twice: by {owner} and by {self._plugin}")
        try:
            self.dests.add(self._group.add_argument(*flags, **kwargs).dest)
        except (argparse.ArgumentError, TypeError, ValueError) as error:
            raise PluginSpecError(
                f"{self._plugin} declares an invalid option {flags[0]}: {error}") from error
        for flag in flags:
            self._owners[flag] = self._plugin


def _kernel_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_path", nargs="?", metavar="model_path",
                        help="The model to render with: a Hugging Face repository slug, a "
                             "Hugging Face blob link, a folder, a URL, or a checkpoint file.")
    parser.add_argument("-h", "--help", action="help", help="Show this help and exit.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Print debugging detail, and tracebacks with errors.")
    parser.add_argument("--version", action="version", version=f"dgenerate {dgenerate_version()}",
                        help="Show the version of dgenerate and exit.")
    parser.add_argument("--plugin-modules", nargs="+", metavar="PATH", default=[],
                        help="Load plugins: a .py file, a folder with __init__.py, the name of "
                             "an installed plugin, or an importable module name.")
    parser.add_argument("--sub-command", metavar="SUB_COMMAND",
                        help="Run a sub-command; every argument after its name belongs to it "
                             "(except -v, -ofm and --plugin-modules). See --sub-command-help.")
    parser.add_argument("-ofm", "--offline-mode", action="store_true",
                        help="Never download anything: use only files on disk and what is "
                             "already in the Hugging Face and web caches.")
    for option in HELP_OPTIONS:
        parser.add_argument(option.flag, nargs="*", metavar=option.metavar, default=None,
                            help=option.help)
    config = parser.add_argument_group("config scripts (command line only)")
    config.add_argument("--file", nargs="+", metavar="FILE",
                        help="Run config scripts from files (glob patterns allowed), one after "
                             "the other.")
    config.add_argument("--shell", action="store_true",
                        help="Read config from standard input until it ends, running each part "
                             "when an empty line follows it and carrying on after errors.")
    config.add_argument("--no-stdin", action="store_true",
                        help="Never read a config script from standard input (for programs "
                             "that start dgenerate without connecting it).")
    config.add_argument("--strict-templates", action="store_true",
                        help="Make undefined template variables errors. By default they expand "
                             "to nothing with a warning, as in dgenerate 5.0.0 (also: "
                             "DGENERATE_STRICT_TEMPLATES=1).")
    config.add_argument("--set", dest="assignments", action=_Assign, nargs="+",
                        metavar="VARIABLE=VALUE", default=[],
                        help="Set template variables before the script runs, like \\set.")
    config.add_argument("--setp", dest="assignments", action=_Assign, nargs="+",
                        metavar="VARIABLE=EXPRESSION",
                        help="Set template variables to the value of Python expressions, like "
                             "\\setp; --set and --setp apply in command line order.")
    add_render_options(parser)


def build_parser(manager: PluginManager, *, raise_errors: bool = False) -> argparse.ArgumentParser:
    """The parser for the main command, rebuilt after plugins are added.

    With ``raise_errors`` (config scripts) usage errors raise :class:`UsageError`.
    """
    parser = _Parser(prog="dgenerate", description=DESCRIPTION, add_help=False, allow_abbrev=False)
    parser.raise_errors = raise_errors
    _kernel_options(parser)
    owners = {flag: "dgenerate itself" for action in parser._actions
              for flag in action.option_strings}
    parser.declared = declared_options(manager)  # type: ignore[attr-defined]
    add_declared_options(parser, parser.declared, owners)  # type: ignore[attr-defined]
    registrar = _Registrar(parser, owners)
    manager.call_each("dgenerate_add_options", lambda loaded: {"options": registrar.bind(loaded)})
    parser.plugin_dests = frozenset(registrar.dests)  # type: ignore[attr-defined]
    return parser
