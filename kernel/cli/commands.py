"""What the main command does once plugins are loaded."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from dgenerate.plugin_api.errors import PluginSpecError
from dgenerate.plugin_api.interfaces.sub_command import SubCommand
from dgenerate.plugin_api.specs import Category

from ..config.variables import template_variables
from ..plugins.context import KernelContext
from ..plugins.targets import resolve_target
from . import listings
from .help_options import HELP_OPTIONS, TEMPLATES_HELP
from .parser import META_DESTS, build_parser

__all__ = ["run_main_command", "run_sub_command"]


def run_sub_command(context: KernelContext, name: str, args: Sequence[str]) -> int:
    """``--sub-command NAME ARGS...``: hand the arguments to the sub-command."""
    spec = context.manager.registry(Category.SUB_COMMAND).get(name)
    target = resolve_target(spec)
    if not (inspect.isclass(target) and issubclass(target, SubCommand)):
        raise PluginSpecError(
            f"sub-command {spec.name!r} from {spec.provider.describe()} has the target "
            f"{spec.target!r}, which is not a SubCommand subclass")
    status = target(context=context, name=spec.name).main(list(args))
    return int(status or 0)


def _print_listings(context: KernelContext, options, parser) -> None:
    outputs = []
    for option in HELP_OPTIONS:
        names = getattr(options, option.dest)
        if names is None:
            continue
        if option is TEMPLATES_HELP:
            variables = template_variables(parser, exclude=META_DESTS)
            outputs.append(listings.describe_variables(variables, names) if names
                           else listings.list_variables(variables))
            continue
        registry = context.manager.registry(option.category)
        outputs.append(listings.describe_specs(registry, names, context) if names
                       else listings.list_specs(registry))
    print("\n\n".join(outputs))


def run_main_command(context: KernelContext, args: Sequence[str]) -> int:
    """Parse the main command line; print the requested listings, or render."""
    parser = build_parser(context.manager)
    options = parser.parse_args(list(args))
    if any(getattr(options, option.dest) is not None for option in HELP_OPTIONS):
        _print_listings(context, options, parser)
        return 0
    if options.model_path is None:
        parser.error("give a model path to render, or one of the --X-help options")
    from ..render.loop import render
    from ..render.plan import build_plan

    render(context, build_plan(options, verbose=context.verbose))
    return 0
