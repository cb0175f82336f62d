"""Modules a config script shares between pipelines (``\\save_modules`` / ``\\use_modules``).

An invocation after ``\\use_modules VAR`` finds the saved modules in its render context
(``RenderContext.shared_modules()``). A model type loads its main pipeline with those
of them its pipeline class takes as ``from_pretrained`` keywords, instead of loading
them; the rest are ignored (said with ``-v``). Options that give a sub-model
explicitly (``--vae``, a ``--text-encoders`` URI or ``null``) take precedence over a
shared module of the same name: the shared ones are the defaults (``+`` of
``--text-encoders`` keeps them). A pipeline loaded with shared modules is cached under
a key holding their identity, so it is never mistaken for the model loaded from disk.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["accepted_modules", "describe_sharing", "offered_modules", "sharing_key"]


def offered_modules(context: Any) -> Mapping[str, Any]:
    """The modules the render context shares with this invocation (none for contexts that
    predate ``shared_modules``)."""
    shared_modules = getattr(context, "shared_modules", None)
    return dict(shared_modules() or {}) if callable(shared_modules) else {}


def _component_names(pipeline_class: Any) -> set[str]:
    parameters = inspect.signature(pipeline_class.__init__).parameters
    return {name for name, parameter in parameters.items() if name != "self"
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)}


def accepted_modules(offered: Mapping[str, Any], pipeline_class: Any) -> dict[str, Any]:
    """The offered modules ``pipeline_class`` takes as constructor components."""
    if not offered:
        return {}
    names = _component_names(pipeline_class)
    return {name: module for name, module in offered.items() if name in names}


def sharing_key(accepted: Mapping[str, Any]) -> tuple[Hashable, ...]:
    """The part of a pipeline's cache key that the shared modules make: their names and
    object identities (empty without shared modules, so other keys stay as they were).
    A cached pipeline holds its modules, so their identities cannot be reused while the
    entry exists."""
    if not accepted:
        return ()
    return (("shared_modules", tuple(sorted((name, id(module))
                                            for name, module in accepted.items()))),)


def describe_sharing(pipeline_class: Any, offered: Mapping[str, Any],
                     accepted: Mapping[str, Any], replaced: Mapping[str, str]) -> str:
    """The ``-v`` line saying which shared modules a load uses, which options replaced
    (``replaced``: component name -> option flag) and which the class does not take."""
    cls = pipeline_class.__name__
    used = [name for name in accepted if name not in replaced]
    parts = [f"\\use_modules: loading {cls} with the shared "
             f"{', '.join(used) if used else 'modules: none'}"]
    by_flag: dict[str, list[str]] = {}
    for name, flag in replaced.items():
        by_flag.setdefault(flag, []).append(name)
    parts.extend(f"{flag} takes precedence over the shared {', '.join(names)}"
                 for flag, names in by_flag.items())
    ignored = [name for name in offered if name not in accepted]
    if ignored:
        parts.append(f"ignored (a {cls} has no such component): {', '.join(ignored)}")
    return "; ".join(parts)
