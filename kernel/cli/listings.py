"""Rendering the ``--X-help`` listings from the registries.

Without names a listing shows every name (with aliases) and its one-line
summary, read from the spec records only: nothing is imported. With names it
shows, for each, the arguments with types and defaults and the description,
importing just those targets.
"""

from __future__ import annotations

import difflib
import inspect
import textwrap
from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api.args import ArgSpec, arguments_of, format_type
from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.interfaces.sub_command import SubCommand
from dgenerate.plugin_api.specs import ArgumentedSpec, Category, PluginSpec

from ..config.variables import TemplateVariable
from ..plugins.registry import Registry
from ..plugins.targets import blamed, missing_requirements, resolve_target, spec_arguments

__all__ = ["describe_specs", "describe_variables", "list_specs", "list_variables"]

RULE = "=" * 72
_INDENT = "    "


def _display_name(category: Category, name: str) -> str:
    return f"\\{name}" if category is Category.DIRECTIVE else name


def _quoted_names(spec: PluginSpec) -> str:
    return " | ".join(f'"{_display_name(spec.category, name)}"' for name in spec.names)


def _function_signature(name: str, function: Any, *, hide_first: bool = False) -> str:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return f"{name}(...)"
    parameters = []
    shown = list(signature.parameters.values())[1 if hide_first else 0:]
    for parameter in shown:
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text = "*" + text
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = "**" + text
        if parameter.annotation is not parameter.empty:
            text += f": {format_type(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parameters.append(text)
    result = f"{name}({', '.join(parameters)})"
    if signature.return_annotation is not signature.empty:
        result += f" -> {format_type(signature.return_annotation)}"
    return result


def list_specs(registry: Registry[Any]) -> str:
    """The name listing of one category."""
    category = registry.category
    lines = [f"Available {category.plural}:"]
    specs = registry.specs()
    if not specs:
        lines.append(f"{_INDENT}(none installed)")
    if category is Category.TEMPLATE_FUNCTION:
        for spec in specs:
            try:
                lines.append(_INDENT + _function_signature(
                    spec.name, resolve_target(spec), hide_first=spec.needs_context))
            except Exception as error:  # one broken plugin must not hide the rest
                lines.append(f"{_INDENT}{spec.name}(...)  (unavailable: {error})")
        return "\n".join(lines)
    width = max((len(_quoted_names(spec)) for spec in specs), default=0)
    for spec in specs:
        summary = spec.summary.strip()
        missing = missing_requirements(spec)
        if missing:
            summary += f" (unavailable: missing {', '.join(missing)})"
        if getattr(spec, "default", False) is True:
            summary += " (the default)"
        lines.append(f"{_INDENT}{_quoted_names(spec).ljust(width)}  {summary}")
    return "\n".join(lines)


def _description(spec: PluginSpec, target: Any) -> str:
    text = spec.help or inspect.getdoc(target) or spec.summary
    return textwrap.indent(text.strip(), _INDENT)


def _describe_one(spec: PluginSpec, context: Any) -> str:
    category = spec.category
    heading = " | ".join(_display_name(category, name) for name in spec.names)
    target = resolve_target(spec)
    if category is Category.TEMPLATE_FUNCTION:
        signature = _function_signature(spec.name, target, hide_first=spec.needs_context)
        described = _function_arguments(target, spec.needs_context)
        return f"{signature}:\n{described}{_description(spec, target)}"
    if category is Category.SUB_COMMAND:
        if not (inspect.isclass(target) and issubclass(target, SubCommand)):
            return f"{heading}:\n{_description(spec, target)}"
        with blamed(spec, "could not show its help"):
            return target(context=context, name=spec.name).format_help().rstrip()
    lines = [f"{heading}:"]
    if isinstance(spec, ArgumentedSpec):
        arguments = [arg for arg in spec_arguments(spec) if not arg.hidden]
        lines.append(f"{_INDENT}arguments:" if arguments else f"{_INDENT}arguments: none")
        lines.extend(_argument_lines(arguments))
        lines.append("")
    lines.append(_description(spec, target))
    return "\n".join(lines)


def _argument_lines(arguments: Sequence[ArgSpec], uri_names: bool = True) -> list[str]:
    """``name: type = default`` for each argument, its ``Arg(help=...)`` indented below."""
    lines = []
    for arg in arguments:
        line = arg.describe()
        lines.append(_INDENT * 2 + (line if uri_names else arg.name + line[len(arg.uri_name):]))
        if arg.help.strip():
            lines.append(textwrap.indent(inspect.cleandoc(arg.help), _INDENT * 3))
    return lines


def _function_arguments(function: Any, needs_context: bool) -> str:
    """The parameters of a template function that have ``Arg(help=...)``, with that help."""
    try:
        arguments = arguments_of(function)
    except (TypeError, ValueError):
        return ""
    first = next(iter(inspect.signature(function).parameters), None) if needs_context else None
    shown = [arg for arg in arguments if arg.name != first and not arg.hidden]
    if not any(arg.help.strip() for arg in shown):
        return ""
    return "\n".join([f"{_INDENT}arguments:", *_argument_lines(shown, uri_names=False), "", ""])


def describe_specs(registry: Registry[Any], names: Sequence[str], context: Any) -> str:
    """Detailed help for the named specs; an unknown name fails before anything prints."""
    specs = [registry.get(name) for name in names]
    unique = list({id(spec): spec for spec in specs}.values())  # aliases may repeat one
    return "\n".join(f"{_describe_one(spec, context)}\n{RULE}" for spec in unique)


def _variable(variable: TemplateVariable) -> str:
    return f'Name: "{variable.name}"\n{_INDENT}Type: {variable.type_name}'


def list_variables(variables: Sequence[TemplateVariable]) -> str:
    return "\n".join(["Config template variables:",
                      *(textwrap.indent(_variable(variable), _INDENT) for variable in variables)])


def describe_variables(variables: Sequence[TemplateVariable], names: Sequence[str]) -> str:
    by_name = {variable.name: variable for variable in variables}
    chosen = []
    for name in names:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise DgenerateError(f"unknown template variable {name!r}{hint}")
        chosen.append(by_name[name])
    return "\n".join(f"{_variable(variable)}\n{_INDENT}{variable.help}" for variable in chosen)
