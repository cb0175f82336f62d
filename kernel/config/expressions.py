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

    interpreter = Interpreter(user_symbols=dict(names), no_print=True, minimal=False)
    result = interpreter.eval(expression, show_errors=False, raise_errors=False)
    if interpreter.error:
        kind, message = interpreter.error[0].get_error()
        detail = message.strip().splitlines()[-1] if message.strip() else kind
        raise DgenerateError(f"cannot evaluate {expression!r}: {detail}")
    return result
