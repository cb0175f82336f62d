"""The main command's argument parser: the kernel's few options plus every plugin's."""

from __future__ import annotations

import argparse
from typing import Any

from dgenerate.plugin_api.errors import PluginConflictError, PluginSpecError

from ..plugins.manager import LoadedPlugin, PluginManager
from ..render.options import add_render_options
from ..version import dgenerate_version
from .help_options import HELP_OPTIONS

__all__ = ["META_DESTS", "build_parser"]

DESCRIPTION = """\
Render images with diffusion models, trying every combination of the values
given (prompts, seeds, steps, guidance, input images, processors ...), or run
config scripts and sub-commands. Features come from plugins; the --X-help
options list what is installed."""

#: Options about the program itself rather than one render.
META_DESTS = frozenset(
    {"help", "version", "sub_command", "plugin_modules"} | {h.dest for h in HELP_OPTIONS})


class _Registrar:
    """The :class:`~dgenerate.plugin_api.OptionRegistrar` given to one plugin at a time."""

    def __init__(self, parser: argparse.ArgumentParser, owners: dict[str, str]) -> None:
        self._parser = parser
        self._owners = owners
        self._group: Any = None
        self._plugin = ""

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
            self._group.add_argument(*flags, **kwargs)
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
    add_render_options(parser)


def build_parser(manager: PluginManager) -> argparse.ArgumentParser:
    """The parser for the main command, rebuilt after plugins are added."""
    parser = argparse.ArgumentParser(
        prog="dgenerate", description=DESCRIPTION, add_help=False, allow_abbrev=False)
    _kernel_options(parser)
    owners = {flag: "dgenerate itself" for action in parser._actions
              for flag in action.option_strings}
    registrar = _Registrar(parser, owners)
    manager.call_each("dgenerate_add_options",
                      lambda loaded: {"options": registrar.bind(loaded)})
    return parser
