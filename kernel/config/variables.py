"""The catalogue of template variables config scripts can use.

After each invocation in a config script, every option of the main command is
available as ``last_<option>`` (``--verbose`` -> ``last_verbose``), so the
catalogue is derived from the parser, plugin options included. The kernel adds
the variables describing what the command line injects into scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from dgenerate.plugin_api.args import format_type

__all__ = ["TemplateVariable", "invocation_variables", "template_variables"]


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
    TemplateVariable("injected_device", str | None,
                     "The --device given on the command line with a script, if any."),
    TemplateVariable("injected_verbose", bool | None,
                     "Whether -v was given on the command line."),
    TemplateVariable("injected_plugin_modules", Sequence[str] | None,
                     "The --plugin-modules given on the command line."),
    TemplateVariable("last_images", Sequence[str],
                     "The image files the last invocation wrote, in order."),
    TemplateVariable("last_animations", Sequence[str],
                     "The animation files the last invocation wrote."),
    TemplateVariable("saved_modules", dict[str, dict[str, Any]],
                     "Pipeline modules saved by \\save_modules, by variable name."),
    TemplateVariable("glob", types.ModuleType, "Python's glob module."),
    TemplateVariable("os", types.ModuleType, "Python's os module (os.path ...)."),
    TemplateVariable("env", Any, "Environment variables: {{ env.HOME }} (unset ones are empty)."),
)


# Option values as the render loop used them (typed, defaults filled in), by option dest.
_FROM_REQUEST = {
    "prompts": "prompts", "seeds": "seeds", "inference_steps": "inference_steps",
    "guidance_scales": "guidance_scales", "image_seed_strengths": "image_seed_strengths",
    "schedulers": "schedulers", "sigmas": "sigmas", "batch_size": "batch_size",
    "output_size": "output_size", "seeds_to_images": "seeds_to_images",
}


def invocation_variables(invocation: Any) -> dict[str, Any]:
    """The ``last_*`` variables describing a finished invocation."""
    values: dict[str, Any] = {}
    options = invocation.options
    for action in invocation.parser._actions:
        dest = action.dest
        if dest == argparse.SUPPRESS or dest in _SKIPPED:
            continue
        values[f"last_{dest}"] = getattr(options, dest, None)
    plan = invocation.plan
    if plan is not None:
        request = plan.request
        for dest, attribute in _FROM_REQUEST.items():
            value = getattr(request, attribute)
            if isinstance(value, tuple):
                value = [item for item in value if item is not None]
            values[f"last_{dest}"] = value
        for option in plan.declared:  # typed, defaults filled in, as the jobs used them
            value = request.values.get(option.spec.name)
            if isinstance(value, tuple):
                value = [item for item in value if item is not None]
            for name in {option.spec.name, option.spec.variable or option.spec.name}:
                values[f"last_{name}"] = value  # also under the name dgenerate 5.0.0 used
        if not plan.image_seeds:
            values["last_image_seed_strengths"] = []
        values["last_gen_seeds"] = options.gen_seeds
        values["last_model_type"] = request.source.model_type  # the default one too
    result = invocation.result
    values["last_images"] = [image.path for image in result.images] if result else []
    values["last_animations"] = list(result.animations) if result else []
    return values


_SKIPPED = frozenset({"help", "version", "file", "shell", "no_stdin", "assignments", "sub_command"})


def _action_type(action: argparse.Action) -> Any:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool
    element = action.type if isinstance(action.type, type) else str
    if action.nargs in ("+", "*") or (isinstance(action.nargs, int) and action.nargs > 1):
        return Sequence[element] | None
    if action.default is not None:
        return element
    return element | None


def _option_variables(actions: Iterable[argparse.Action], exclude: Collection[str],
                      aliases: dict[str, str]) -> Iterable[TemplateVariable]:
    for action in actions:
        if action.dest in exclude or action.dest == argparse.SUPPRESS:
            continue
        spelling = "/".join(action.option_strings) or action.dest
        for name in dict.fromkeys((action.dest, aliases.get(action.dest) or action.dest)):
            yield TemplateVariable(f"last_{name}", _action_type(action),
                                   f"The value of {spelling} in the last invocation.")


def template_variables(parser: argparse.ArgumentParser,
                       exclude: Collection[str] = ()) -> list[TemplateVariable]:
    """Every declared template variable, sorted by name; ``exclude`` lists option dests
    that are not per-invocation (help listings, ``--version`` ...)."""
    variables = {variable.name: variable for variable in _INJECTED}
    # the last_ names of dgenerate 5.0.0 declared options keep (last_vae_uri beside last_vae)
    aliases = {option.spec.name: option.spec.variable for option in getattr(parser, "declared", ())}
    for variable in _option_variables(parser._actions, exclude, aliases):
        variables.setdefault(variable.name, variable)
    return sorted(variables.values(), key=lambda variable: variable.name)
