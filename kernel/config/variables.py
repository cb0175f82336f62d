"""The catalogue of template variables config scripts can use.

After each invocation in a config script, every option of the main command is
available as ``last_<option>`` (``--verbose`` -> ``last_verbose``), so the
catalogue is derived from the parser, plugin options included. The kernel adds
the variables describing what the command line injects into scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from dgenerate.plugin_api.args import format_type

__all__ = ["TemplateVariable", "template_variables"]


@dataclasses.dataclass(frozen=True)
class TemplateVariable:
    name: str
    type: Any
    help: str

    @property
    def type_name(self) -> str:
        return format_type(self.type)


_INJECTED = (
    TemplateVariable("injected_args", Sequence[str],
                     "The render options given on the command line together with a "
                     "script; they are appended to every invocation in it."),
    TemplateVariable("injected_verbose", bool | None,
                     "Whether -v was given on the command line."),
    TemplateVariable("injected_plugin_modules", Sequence[str] | None,
                     "The --plugin-modules given on the command line."),
)


def _action_type(action: argparse.Action) -> Any:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool
    element = action.type if isinstance(action.type, type) else str
    if action.nargs in ("+", "*") or (isinstance(action.nargs, int) and action.nargs > 1):
        return Sequence[element] | None
    if action.default is not None:
        return element
    return element | None


def _option_variables(actions: Iterable[argparse.Action],
                      exclude: Collection[str]) -> Iterable[TemplateVariable]:
    for action in actions:
        if action.dest in exclude or action.dest == argparse.SUPPRESS:
            continue
        spelling = "/".join(action.option_strings) or action.dest
        yield TemplateVariable(f"last_{action.dest}", _action_type(action),
                               f"The value of {spelling} in the last invocation.")


def template_variables(parser: argparse.ArgumentParser,
                       exclude: Collection[str] = ()) -> list[TemplateVariable]:
    """Every declared template variable, sorted by name; ``exclude`` lists option dests
    that are not per-invocation (help listings, ``--version`` ...)."""
    variables = {variable.name: variable for variable in _INJECTED}
    for variable in _option_variables(parser._actions, exclude):
        variables.setdefault(variable.name, variable)
    return sorted(variables.values(), key=lambda variable: variable.name)
