"""Evaluating ``\\setp`` expressions: a restricted Python, with the script's names.

asteval runs literals, arithmetic, comprehensions, conditional expressions,
attribute access and calls of the functions it is given - no statements, no
imports - which is what ``\\setp`` needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["evaluate"]


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    from asteval import Interpreter

    interpreter = Interpreter(no_print=True, minimal=False)
    # names go into the symbol table one by one: asteval passes ``user_symbols`` to its own
    # functions as keyword arguments, so a script variable called ``nested`` collided
    for name, value in names.items():
        interpreter.symtable[name] = value
    result = interpreter.eval(expression, show_errors=False, raise_errors=False)
    if interpreter.error:
        kind, message = interpreter.error[0].get_error()
        detail = message.strip().splitlines()[-1] if message.strip() else kind
        raise DgenerateError(f"cannot evaluate {expression!r}: {detail}")
    return result
