"""Custom sigma schedules: ``1.0,0.5,0.1`` or ``expr: sigmas * 0.95``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dgenerate.plugin_api import DgenerateError

from .schedulers import accepts_sigmas

__all__ = ["resolve_sigmas"]

_PREFIX = "expr:"


def _default_sigmas(scheduler: Any, steps: int) -> np.ndarray:
    probe = type(scheduler).from_config(scheduler.config)
    probe.set_timesteps(steps)
    sigmas = getattr(probe, "sigmas", None)
    if sigmas is None:
        raise DgenerateError(f"--sigmas: {type(scheduler).__name__} has no sigmas to use in an "
                             "expression")
    return np.asarray(sigmas.cpu() if hasattr(sigmas, "cpu") else sigmas, dtype=np.float64)


def _evaluate(expression: str, sigmas: np.ndarray) -> Any:
    # asteval: a restricted Python evaluator, numpy available as np
    from asteval import Interpreter

    interpreter = Interpreter(user_symbols={"sigmas": sigmas, "np": np}, no_print=True)
    result = interpreter.eval(expression, show_errors=False, raise_errors=False)
    if interpreter.error:
        message = interpreter.error[0].get_error()[1].strip().splitlines()[-1]
        raise DgenerateError(f"--sigmas: the expression {expression!r} failed: {message}")
    return result


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
    return values
