"""Directives that hand pipeline modules from one invocation to the next.

``\\save_modules VAR NAME...`` keeps modules of the last invocation's main pipeline in
the ``saved_modules`` template variable, ``\\use_modules VAR`` gives them to the next
invocation, ``\\clear_modules [VAR...]`` lets them go. The kernel records the pipeline and
hands the modules over (``DirectiveContext.sharing``); the model type decides which of
them its pipeline takes.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from dgenerate.plugin_api import DgenerateError, DirectiveContext

#: the pipeline modules that can be saved, in the order the help lists them
MODULE_NAMES = ("unet", "vae", "transformer", "text_encoder", "text_encoder_2",
                "text_encoder_3", "tokenizer", "tokenizer_2", "tokenizer_3", "safety_checker",
                "feature_extractor", "image_encoder", "adapter", "controlnet", "scheduler")
VARIABLE = "saved_modules"


class SavedModules(dict):
    """One saved set of modules, by name; printed by class name (a module's own text
    runs to pages)."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: <{type(module).__name__}>"
                               for name, module in self.items()) + "}"


def _saved(context: DirectiveContext) -> MutableMapping[str, Any]:
    """The ``saved_modules`` variable (made again if a script unset or replaced it)."""
    saved = context.variables.get(VARIABLE)
    if not isinstance(saved, MutableMapping):
        saved = context.variables[VARIABLE] = {}
    return saved


def _debug(context: DirectiveContext, message: str) -> None:
    if context.verbose:
        print(f"dgenerate: {message}", file=sys.stderr)


def _unknown_variable(directive: str, name: str, saved: MutableMapping[str, Any]) -> str:
    if not saved:
        return (f"\\{directive} {name}: no modules are saved under that name (none are "
                "saved; use \\save_modules VAR MODULE_NAME... after an invocation)")
    close = difflib.get_close_matches(name, list(saved), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (f"\\{directive} {name}: no modules are saved under that name{hint} (saved: "
            f"{', '.join(sorted(saved))})")


def _check_names(names: Sequence[str]) -> None:
    for name in names:
        if name not in MODULE_NAMES:
            close = difflib.get_close_matches(name, MODULE_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DgenerateError(f"\\save_modules: {name!r} is not a module name that can be "
                                 f"saved{hint}; the module names are: "
                                 f"{', '.join(MODULE_NAMES)}")


def _last_pipeline(context: DirectiveContext) -> Any:
    sharing = context.sharing
    if not sharing.invocations:
        raise DgenerateError("\\save_modules: no invocation has run yet; it saves modules of "
                             "the pipeline the last invocation used, so put it after one")
    pipeline = sharing.last_pipeline
    if pipeline is None and sharing.pipeline_recorded:
        raise DgenerateError("\\save_modules: the pipeline of the last invocation is no "
                             "longer in memory (\\clear_object_cache, or a shortage of memory, "
                             "released it); save modules right after the invocation")
    if pipeline is None:
        raise DgenerateError("\\save_modules: the last invocation used no pipeline (it only "
                             "printed help, failed before loading, or its model type renders "
                             "without a diffusers pipeline)")
    return pipeline


def _module(pipeline: Any, name: str) -> Any:
    cls = type(pipeline).__name__
    components = getattr(pipeline, "components", None)
    if isinstance(components, dict):
        if name not in components:
            have = ", ".join(key for key, value in components.items()
                             if value is not None and key in MODULE_NAMES)
            raise DgenerateError(f"\\save_modules: the pipeline of the last invocation "
                                 f"({cls}) has no {name} module; it has: {have or 'none'}")
        module = components[name]
    else:
        module = getattr(pipeline, name, None)
    if module is None:
        raise DgenerateError(f"\\save_modules: the pipeline of the last invocation ({cls}) "
                             f"has no {name} loaded (it is None)")
    return module


def save_modules(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\save_modules VAR MODULE_NAME...

    Keep modules of the main pipeline the last invocation used in
    saved_modules[VAR] (replacing what VAR held), for \\use_modules. Module
    names: unet, vae, transformer, text_encoder, text_encoder_2, text_encoder_3,
    tokenizer, tokenizer_2, tokenizer_3, safety_checker, feature_extractor,
    image_encoder, adapter, controlnet, scheduler. The modules stay in memory
    until \\clear_modules VAR.
    """
    if len(args) < 2:
        raise DgenerateError("\\save_modules: usage is \\save_modules VAR MODULE_NAME... "
                             f"(module names: {', '.join(MODULE_NAMES)})")
    name, names = args[0], list(dict.fromkeys(args[1:]))
    _check_names(names)
    pipeline = _last_pipeline(context)
    modules = SavedModules((module, _module(pipeline, module)) for module in names)
    _saved(context)[name] = modules
    _debug(context, f"\\save_modules: saved the {', '.join(names)} of "
                    f"{type(pipeline).__name__} as {name!r}")


def use_modules(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\use_modules VAR

    The next invocation (that one only) loads its main pipeline with the
    modules saved in VAR instead of loading them, where its pipeline takes
    them (-v says which). Sub-models given by options (--vae, --unet,
    --text-encoders URIs and null) take precedence; + in --text-encoders keeps
    a shared text encoder. Given again before an invocation, the last one counts.
    """
    if len(args) != 1:
        raise DgenerateError("\\use_modules: usage is \\use_modules VAR (one name given "
                             "to \\save_modules)")
    saved = _saved(context)
    name = args[0]
    if name not in saved:
        raise DgenerateError(_unknown_variable("use_modules", name, saved))
    modules = saved[name]
    if not isinstance(modules, Mapping):
        raise DgenerateError(f"\\use_modules {name}: saved_modules[{name!r}] holds a "
                             f"{type(modules).__name__}, not modules by name")
    context.sharing.use(modules, name)
    _debug(context, f"\\use_modules: the next invocation gets the {', '.join(modules)} "
                    f"saved as {name!r}")


def clear_modules(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\clear_modules [VAR...]

    Forget the modules saved in each VAR (all saved modules when no name is
    given), so that their memory can be freed. A \\use_modules of one of them
    waiting for the next invocation is cancelled too.
    """
    saved = _saved(context)
    for name in args:
        if name not in saved:
            raise DgenerateError(_unknown_variable("clear_modules", name, saved))
    names = list(dict.fromkeys(args)) or list(saved)
    for name in names:
        del saved[name]
    if context.sharing.queued_name in names:
        context.sharing.cancel()
