"""Custom sigma schedules: ``1.0,0.5,0.1`` or ``expr: sigmas * 0.95``.

Expressions run in asteval with only what a schedule needs: the scheduler's
sigmas, a read-only ``np`` holding a whitelist of numpy math, Python's
arithmetic builtins and the ``math`` functions asteval provides. numpy's file
functions (``np.load``, ``np.save``, ``np.fromfile`` ...), ``open`` and
array methods that write files are not reachable. This is a restricted
evaluator that keeps a typo from doing harm, not a security boundary: config
scripts that hold the expressions are code anyway.
"""

from __future__ import annotations

import ast
import io
import itertools
import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import DgenerateError
from .schedulers import accepts_sigmas

__all__ = ["EXPRESSION_BUILTINS", "EXPRESSION_NUMPY", "resolve_sigmas"]

_PREFIX = "expr:"

#: the numpy names an expression may use as np.NAME
EXPRESSION_NUMPY = (
    "abs", "absolute", "add", "amax", "amin", "append", "arange", "arccos", "arcsin",
    "arctan", "arctan2", "array", "asarray", "ceil", "clip", "concatenate", "cos", "cosh",
    "cumprod", "cumsum", "diff", "divide", "e", "exp", "exp2", "expm1", "flip", "float32",
    "float64", "floor", "full", "full_like", "geomspace", "hstack", "interp", "isfinite",
    "isnan", "linspace", "log", "log10", "log1p", "log2", "logspace", "max", "maximum",
    "mean", "median", "min", "minimum", "multiply", "nan_to_num", "ones", "ones_like", "pi",
    "polyval", "power", "prod", "ravel", "reciprocal", "repeat", "rint", "round", "sign",
    "sin", "sinh", "sort", "sqrt", "square", "stack", "subtract", "sum", "tan", "tanh",
    "tile", "trunc", "where", "zeros", "zeros_like",
)

#: the other names an expression may use: Python builtins and asteval's math functions
EXPRESSION_BUILTINS = (
    "False", "None", "True", "abs", "acos", "acosh", "all", "any", "asin", "asinh", "atan",
    "atan2", "atanh", "bool", "ceil", "copysign", "cos", "cosh", "degrees", "divmod", "e",
    "enumerate", "exp", "fabs", "factorial", "float", "floor", "fmod", "fsum", "hypot", "int",
    "isinf", "isnan", "len", "list", "log", "log10", "log1p", "max", "min", "pi", "pow",
    "radians", "range", "reversed", "round", "sin", "sinh", "slice", "sorted", "sqrt", "sum",
    "tan", "tanh", "trunc", "tuple", "zip",
)

#: attributes refused on any object: array and scalar methods that write files or
#: pickle, raw memory access, string formatting that reads attributes, frames
_REFUSED_ATTRIBUTES = frozenset({
    "ctypes", "dump", "dumps", "tofile", "format", "format_map", "mro", "gi_code",
    "gi_frame", "f_globals", "f_locals",
})


class _Namespace:
    """A read-only object whose attributes are a fixed set of names (np in expressions)."""

    __slots__ = ("_label", "_members")

    def __init__(self, label: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_members", MappingProxyType(dict(members)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._members[name]
        except KeyError:
            raise AttributeError(f"{self._label}.{name} is not available in sigma "
                                 "expressions") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._label} is read-only in sigma expressions")

    def __dir__(self) -> Iterator[str]:
        return iter(sorted(self._members))

    def __repr__(self) -> str:
        return f"<{self._label}: {', '.join(sorted(self._members))}>"


_NUMPY = _Namespace("np", {name: getattr(np, name) for name in EXPRESSION_NUMPY})


def _refuse(expression: str, what: str) -> DgenerateError:
    return DgenerateError(f"--sigmas: {what} is not available in sigma expressions "
                          f"(in {expression!r})")


def _check_names(expression: str) -> None:
    """Refuse, before anything runs, names and attributes outside the whitelist.

    Private and special names (``__import__``, ``x.__class__``), numpy names
    that are not whitelisted and attributes that do I/O are caught here with a
    clear message; the symbol table and asteval's own checks back this up.
    """
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise DgenerateError(f"--sigmas: the expression {expression!r} is not valid Python: "
                             f"{error.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise _refuse(expression, repr(node.id))
        if not isinstance(node, ast.Attribute):
            continue
        if isinstance(node.value, ast.Name) and node.value.id == "np":
            if node.attr not in EXPRESSION_NUMPY:
                raise _refuse(expression, f"np.{node.attr}")
        elif node.attr.startswith("_") or node.attr in _REFUSED_ATTRIBUTES:
            raise _refuse(expression, f"the attribute {node.attr!r}")


def _interpreter(sigmas: np.ndarray) -> Any:
    """An asteval interpreter that knows the sigmas, np and the whitelisted builtins."""
    from asteval import Interpreter

    output = io.StringIO()
    interpreter = Interpreter(use_numpy=False, minimal=True, writer=output, err_writer=output,
                              with_ifexp=True, with_listcomp=True)
    table = interpreter.symtable
    for name in [name for name in table if name not in EXPRESSION_BUILTINS]:
        del table[name]
    table["sigmas"] = sigmas
    table["np"] = _NUMPY
    interpreter.readonly_symbols = set(table)
    return interpreter


def _evaluate(expression: str, sigmas: np.ndarray) -> Any:
    _check_names(expression)
    interpreter = _interpreter(sigmas)
    result = interpreter.eval(expression, show_errors=False, raise_errors=False)
    if interpreter.error:
        message = interpreter.error[0].get_error()[1].strip().splitlines()[-1]
        raise DgenerateError(f"--sigmas: the expression {expression!r} failed: {message}")
    return result


def _default_sigmas(scheduler: Any, steps: int) -> np.ndarray:
    probe = type(scheduler).from_config(scheduler.config)
    probe.set_timesteps(steps)
    sigmas = getattr(probe, "sigmas", None)
    if sigmas is None:
        raise DgenerateError(f"--sigmas: {type(scheduler).__name__} has no sigmas to use in an "
                             "expression")
    return np.asarray(sigmas.cpu() if hasattr(sigmas, "cpu") else sigmas, dtype=np.float64)


def resolve_sigmas(text: str, scheduler: Any, steps: int) -> list[float]:
    """The sigma list for a job, checked against the scheduler."""
    if not accepts_sigmas(scheduler):
        raise DgenerateError(f"--sigmas: the scheduler {type(scheduler).__name__} does not accept "
                             "custom sigmas; choose another with --schedulers")
    stripped = text.strip()
    if stripped.lower().startswith(_PREFIX):
        expression = stripped[len(_PREFIX):].strip()
        result = _evaluate(expression, _default_sigmas(scheduler, steps))
        try:
            values = [float(value) for value in np.asarray(result, dtype=np.float64).ravel()]
        except (TypeError, ValueError):
            raise DgenerateError(f"--sigmas: the expression {expression!r} did not give "
                                 f"numbers but {result!r}") from None
    else:
        values = [float(value) for value in stripped.split(",")]
    if len(values) < 2:
        raise DgenerateError(f"--sigmas {text!r}: a schedule needs at least two sigmas")
    if not all(math.isfinite(value) and value >= 0 for value in values):
        raise DgenerateError(f"--sigmas {text!r}: every sigma must be a finite number >= 0")
    if any(later >= earlier for earlier, later in itertools.pairwise(values)):
        # the schedulers find their step by the sigma: a repeated or rising one derails them
        raise DgenerateError(f"--sigmas {text!r}: the sigmas must decrease from first to last "
                             f"(got {', '.join(f'{value:g}' for value in values)})")
    return values
