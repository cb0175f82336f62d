"""Directives that set and remove template variables."""

from __future__ import annotations

import importlib
import random
from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext


def _name_and_value(directive: str, text: str) -> tuple[str, str]:
    name, _, value = text.strip().partition(" ")
    name = name.strip()
    if not name:
        raise DgenerateError(f"\\{directive}: usage is \\{directive} NAME VALUE")
    if not name.isidentifier():
        raise DgenerateError(f"\\{directive}: {name!r} is not a valid variable name")
    return name, value.strip()


def set_variable(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\set NAME VALUE

    Set the template variable NAME to VALUE as text: templates and environment
    variables are expanded (in that order), surrounding spaces removed, nothing
    else - quotes stay as written. NAME may itself come from an expansion.
    """
    name, value = _name_and_value("set", context.expand_environment(args[0]))
    context.variables[name] = value


def set_parsed(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\sete NAME TOKENS...

    Set NAME to the list of TOKENS after shell parsing: quotes removed, escapes
    and environment variables resolved, globs expanded (\\sete files ./*.png).
    """
    if not args:
        raise DgenerateError("\\sete: usage is \\sete NAME TOKENS...")
    if not args[0].isidentifier():
        raise DgenerateError(f"\\sete: {args[0]!r} is not a valid variable name")
    context.variables[args[0]] = list(args[1:])


def set_evaluated(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\setp NAME EXPRESSION

    Set NAME to the value of a Python expression: literals, arithmetic,
    comprehensions, conditional expressions, other variables and template
    functions (\\setp sizes [s * 64 for s in range(1, 5)]).
    """
    name, expression = _name_and_value("setp", context.expand_environment(args[0]))
    if not expression:
        raise DgenerateError("\\setp: an expression is missing")
    context.variables[name] = context.evaluate(expression)


def unset_variable(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\unset NAME...

    Remove template variables; an unknown name is an error.
    """
    names = context.expand_environment(args[0]).split()
    if not names:
        raise DgenerateError("\\unset: usage is \\unset NAME...")
    for name in names:
        if name not in context.variables:
            raise DgenerateError(f"\\unset: there is no template variable {name!r}")
        del context.variables[name]


def gen_seeds(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\gen_seeds NAME COUNT

    Set NAME to a list of COUNT random seeds, as strings.
    """
    if len(args) != 2 or not args[1].isdigit() or int(args[1]) < 1:
        raise DgenerateError("\\gen_seeds: usage is \\gen_seeds NAME COUNT (COUNT >= 1)")
    generator = random.SystemRandom()
    context.variables[args[0]] = [str(generator.randint(0, 99_999_999_999_999))
                                  for _ in range(int(args[1]))]


def import_module(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\import MODULE [as NAME]

    Import a Python module and make it a template variable (its last name part,
    or NAME): \\import numpy as np.
    """
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "as"):
        raise DgenerateError("\\import: usage is \\import MODULE [as NAME]")
    try:
        module = importlib.import_module(args[0])
    except ImportError as error:
        raise DgenerateError(f"\\import: cannot import {args[0]!r}: {error}") from None
    context.variables[args[2] if len(args) == 3 else args[0].split(".")[0]] = (
        module if len(args) == 3 else importlib.import_module(args[0].split(".")[0]))
