"""Scheduler URIs (``NAME;arg=value``): listing, arguments and construction."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from typing import Any

from ..args import REQUIRED, ArgSpec, arguments_of
from ..context import PluginContext
from ..errors import DgenerateError

__all__ = ["build_scheduler", "check_scheduler_uri", "compatible_names", "scheduler_arguments"]

_CLONE = ArgSpec(name="clone_config", type=bool, default=True,
                 help="start from the model's own scheduler settings")


def compatible_names(scheduler: Any, extra: Sequence[str] = ()) -> list[str]:
    """The scheduler classes that can replace ``scheduler``, sorted; ``extra`` adds those a
    model family knows to work beside the ones diffusers lists as compatible."""
    import diffusers

    names = {cls.__name__ for cls in getattr(scheduler, "compatibles", [])}
    names.add(type(scheduler).__name__)
    names.update(extra)
    return sorted(name for name in names if hasattr(diffusers, name))


def _is_scheduler(name: str) -> bool:
    import diffusers

    return isinstance(getattr(diffusers, name, None), type) and issubclass(
        getattr(diffusers, name), diffusers.SchedulerMixin)


def check_scheduler_uri(uri: str, context: PluginContext) -> None:
    """Fail for a scheduler URI that cannot work with any model: an unknown class name or
    arguments the class does not take. Compatibility with the model is checked once it
    is loaded."""
    import diffusers

    name = uri.split(";", 1)[0].strip()
    if not _is_scheduler(name):
        known = sorted(n for n in dir(diffusers) if n.endswith("Scheduler") and _is_scheduler(n))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DgenerateError(f"--schedulers: {name!r} is not a diffusers scheduler{hint} "
                             "(list the ones a model accepts with --scheduler help)")
    context.parse_uri(uri, scheduler_arguments(name), owner=f"scheduler {name!r}")


def scheduler_arguments(name: str) -> tuple[ArgSpec, ...]:
    """``clone-config`` and the constructor arguments of the scheduler class ``name``."""
    import diffusers

    cls = getattr(diffusers, name)
    arguments = tuple(arg for arg in arguments_of(cls) if arg.default is not REQUIRED)
    return (_CLONE, *arguments)


def _class(name: str, compatible: list[str]) -> Any:
    import diffusers

    if name not in compatible:
        close = difflib.get_close_matches(name, compatible, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise DgenerateError(
            f"--schedulers: {name!r} is not a scheduler this model can use{hint} The compatible "
            f"schedulers are: {', '.join(compatible)} (list them with --scheduler help)")
    return getattr(diffusers, name)


def _settings_for(cls: Any, config: Any) -> dict[str, Any]:
    """``config`` without the unset (None) values that would override a real default of
    ``cls``: another scheduler's ``sigma_min=None`` means "derive it", EDM's means nothing."""
    defaults = {name: parameter.default
                for name, parameter in inspect.signature(cls.__init__).parameters.items()}
    return {key: value for key, value in dict(config).items()
            if value is not None or defaults.get(key) is None}


def build_scheduler(uri: str, current: Any, original_config: Any,
                    context: PluginContext, extra: Sequence[str] = ()) -> Any:
    """A new scheduler from ``uri``, its settings cloned from ``original_config`` unless
    ``clone-config=false``."""
    name = uri.split(";", 1)[0].strip()
    cls = _class(name, compatible_names(current, extra))
    _, values = context.parse_uri(uri, scheduler_arguments(name), owner=f"scheduler {name!r}")
    clone = values.pop("clone_config", True)
    try:
        if clone:
            return cls.from_config(_settings_for(cls, original_config), **values)
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise DgenerateError(f"--schedulers {uri!r}: {error}") from None


def accepts_sigmas(scheduler: Any) -> bool:
    return "sigmas" in inspect.signature(scheduler.set_timesteps).parameters
