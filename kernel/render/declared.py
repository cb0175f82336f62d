"""The options plugins declare (:class:`OptionSpec`), gathered, merged and added to the parser.

Options come from model type specs, pipeline extension specs, sub-model specs (they
apply to the model types that declare the sub-model's slot) and the
``dgenerate_render_options`` hook. Several plugins may declare the same option for
their own model types (``--clip-skips`` for sd and sdxl): equal declarations merge
into one that applies to all of them; different ones are an error naming both.
"""

from __future__ import annotations

import argparse
import dataclasses

from dgenerate.plugin_api.errors import PluginConflictError, PluginSpecError
from dgenerate.plugin_api.options import OptionSpec, option_name
from dgenerate.plugin_api.specs import Category, Provider

from ..plugins.manager import PluginManager

__all__ = ["DeclaredOption", "add_declared_options", "declared_options", "upscaler_dest"]


@dataclasses.dataclass(frozen=True)
class DeclaredOption:
    spec: OptionSpec
    owner: str  # who declared it, for messages
    group: str  # the --help section
    provider: Provider | None = None
    #: the options needed, per model type ("" for any), when declarations differ in it
    requires: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the image-seed part each value takes ("control", "adapter"): a sub-model kind's first
    #: option, when the kind declares one
    image_input: str | None = None

    def requires_for(self, model_type: str) -> tuple[str, ...]:
        found = dict(self.requires)
        return found.get(model_type, found.get("", self.spec.requires))


def _requires(option: OptionSpec) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, option.requires) for name in option.model_types or ("",))


def _collect(manager: PluginManager) -> list[tuple[OptionSpec, Provider, str | None]]:
    found = []
    for category in (Category.MODEL_TYPE, Category.PIPELINE_EXTENSION):
        for spec in manager.registry(category).specs(include_hidden=True):
            found.extend((option, spec.provider, None) for option in spec.options)
    # a sub-model kind's options apply to the model types that declare its slot
    model_types = manager.registry(Category.MODEL_TYPE).specs(include_hidden=True)
    for spec in manager.registry(Category.SUB_MODEL).specs(include_hidden=True):
        serves = tuple(name for model_type in model_types if spec.slot in
                       model_type.capabilities.slots for name in model_type.names)
        found.extend((option if option.model_types else dataclasses.replace(
            option, model_types=serves or ("(none)",)), spec.provider,
            spec.image_input if index == 0 else None)
            for index, option in enumerate(spec.options))
    for implementation in manager.hooks.hook.dgenerate_render_options.get_hookimpls():
        loaded = manager.plugins.get(implementation.plugin_name)
        if loaded is None:
            continue
        for option in implementation.function() or ():
            if not isinstance(option, OptionSpec):
                raise PluginSpecError(f"{loaded.provider.describe()}: dgenerate_render_options() "
                                      f"returned {option!r}, which is not an OptionSpec")
            found.append((option, loaded.provider, None))
    return found


def declared_options(manager: PluginManager) -> list[DeclaredOption]:
    """Every declared option once, in declaration order (plugins sorted by name)."""
    by_flag: dict[str, DeclaredOption] = {}
    merged: dict[str, DeclaredOption] = {}
    for option, provider, image_input in _collect(manager):
        owner, plugin = provider.describe(), provider.plugin
        known = next((by_flag[flag] for flag in option.flags if flag in by_flag), None)
        if known is None:
            declared = DeclaredOption(option, owner, option.group or f"options of {plugin!r}",
                                      provider, _requires(option), image_input)
        elif known.spec.same_option(option):
            types = tuple(dict.fromkeys((*known.spec.model_types, *option.model_types)))
            if not known.spec.model_types or not option.model_types:
                types = ()
            declared = dataclasses.replace(
                known, spec=dataclasses.replace(known.spec, model_types=types),
                requires=known.requires + _requires(option))
        else:
            raise PluginConflictError(
                f"the option {option.flag} is declared differently by {known.owner} and by "
                f"{owner}; equal declarations merge, these differ")
        merged[declared.spec.name] = declared
        by_flag.update(dict.fromkeys(option.flags, declared))
        by_flag.update(dict.fromkeys(declared.spec.flags, declared))
    return list(merged.values())


def _help(option: DeclaredOption) -> str:
    spec = option.spec
    parts = [spec.help.strip()]
    if spec.model_types:
        parts.append(f"(model types: {', '.join(spec.model_types)})")
    needs = sorted({flag for _, flags in option.requires for flag in flags})
    if needs:
        parts.append(f"(needs {' or '.join(needs)})")
    if spec.default is not None and not spec.switch:
        default = spec.default if not isinstance(spec.default, tuple) else " ".join(
            map(str, spec.default))
        parts.append(f"(default: {default})")
    return " ".join(parts).replace("%", "%%")


def upscaler_dest(spec: OptionSpec) -> str:
    """``--second-prompt-upscaler`` -> ``second_prompt_upscaler_uri`` (5.0.0's name)."""
    return option_name(next(flag for flag in spec.upscaler if flag.startswith("--"))) + "_uri"


def add_declared_options(parser: argparse.ArgumentParser, declared: list[DeclaredOption],
                         owners: dict[str, str]) -> None:
    """Add the options to ``parser``, grouped for ``--help``; a flag the kernel or another
    plugin already uses is an error naming both."""
    # a declared group named like one of the kernel's (model loading ...) joins it
    groups = {group.title: group for group in parser._action_groups if group.title}
    for option in declared:
        spec = option.spec
        for flag in spec.flags:
            if flag in owners:
                raise PluginConflictError(f"the option {flag} is declared twice: by "
                                          f"{owners[flag]} and by {option.owner}")
        group = groups.get(option.group) or groups.setdefault(
            option.group, parser.add_argument_group(option.group))
        if spec.switch:
            group.add_argument(*spec.flags, dest=spec.name, action="store_true", default=None,
                               help=_help(option))
        else:
            several = spec.axis or spec.several
            group.add_argument(*spec.flags, dest=spec.name, nargs="+" if several else None,
                               metavar=spec.metavar or spec.name.upper(), default=None,
                               help=_help(option))
        owners.update(dict.fromkeys(spec.flags, option.owner))
        if spec.upscaler:  # the prompt upscalers of these prompts
            group.add_argument(*spec.upscaler, dest=upscaler_dest(spec), nargs="+",
                               metavar="PROMPT_UPSCALER_URI",
                               help=f"Prompt upscalers of {spec.flag}, in order (default: "
                                    "those of --prompt-upscaler).")
            owners.update(dict.fromkeys(spec.upscaler, option.owner))
