"""What the main command does once plugins are loaded: listings, one render, or a script."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, PluginSpecError
from dgenerate.plugin_api.interfaces.sub_command import SubCommand
from dgenerate.plugin_api.specs import Category

from ..config.variables import template_variables
from ..plugins.context import KernelContext
from ..plugins.targets import blamed, resolve_target
from . import listings
from .help_options import HELP_OPTIONS, TEMPLATES_HELP
from .parser import CONFIG_DESTS, META_DESTS, build_parser

__all__ = ["Invocation", "invoke", "listing_text", "make_plan", "run_main_command",
           "run_sub_command"]


def run_sub_command(context: KernelContext, name: str, args: Sequence[str]) -> int:
    """``--sub-command NAME ARGS...``: hand the arguments to the sub-command."""
    spec = context.manager.registry(Category.SUB_COMMAND).get(name)
    target = resolve_target(spec)
    if not (inspect.isclass(target) and issubclass(target, SubCommand)):
        raise PluginSpecError(
            f"sub-command {spec.name!r} from {spec.provider.describe()} has the target "
            f"{spec.target!r}, which is not a SubCommand subclass")
    run_startup(context)
    with blamed(spec):
        status = target(context=context, name=spec.name).main(list(args))
    return int(status or 0)


def listing_text(context: KernelContext, option: str, names: Sequence[str],
                 parser: argparse.ArgumentParser | None = None) -> str:
    """The output of one ``--X-help`` option (``option`` with or without dashes)."""
    flag = "--" + option.lstrip("-")
    for help_option in HELP_OPTIONS:
        if help_option.flag == flag:
            break
    else:
        raise DgenerateError(f"{flag} is not a help listing")
    if help_option is TEMPLATES_HELP:
        variables = template_variables(parser or build_parser(context.manager), exclude=META_DESTS)
        return (listings.describe_variables(variables, names) if names
                else listings.list_variables(variables))
    registry = context.manager.registry(help_option.category)
    return (listings.describe_specs(registry, names, context) if names
            else listings.list_specs(registry))


def _asks_for_model_types(options: argparse.Namespace) -> bool:
    """``--model-type help``: list the model types instead of rendering."""
    return str(getattr(options, "model_type", "")).strip().lower() == "help"


def _requested_listings(options: argparse.Namespace) -> list[tuple[str, list[str]]]:
    return [(option.flag, getattr(options, option.dest)) for option in HELP_OPTIONS
            if getattr(options, option.dest) is not None]


def _print_listings(context: KernelContext, options: argparse.Namespace,
                    parser: argparse.ArgumentParser) -> bool:
    """Print what the --X-help options and ``--model-type help`` ask for; False if none."""
    texts = [listing_text(context, flag, names, parser)
             for flag, names in _requested_listings(options)]
    if _asks_for_model_types(options):
        texts.append(listings.list_specs(context.manager.registry(Category.MODEL_TYPE)))
    if texts:
        print("\n\n".join(texts))
    return bool(texts)


@dataclasses.dataclass
class Invocation:
    """One parsed and run dgenerate invocation (used to set template variables)."""

    parser: argparse.ArgumentParser
    options: argparse.Namespace
    plan: Any = None
    result: Any = None


def invoke(context: KernelContext, arguments: Sequence[str], *,
           in_script: bool = True) -> Invocation | None:
    """Run one invocation (a config line, or the command line without a script).

    Returns ``None`` when the invocation only printed help.
    """
    parser = build_parser(context.manager, raise_errors=in_script)
    try:
        options = parser.parse_args(list(arguments))
    except SystemExit as exit_request:  # --help inside a script: printed, carry on
        if in_script and not exit_request.code:
            return None
        raise
    if in_script:
        given = [dest for dest in CONFIG_DESTS if getattr(options, dest, None)]
        if given:
            raise DgenerateError(f"--{given[0].replace('_', '-')} can only be given on the "
                                 "command line, not inside a config script")
    if _print_listings(context, options, parser):
        return None
    if options.model_path is None:
        parser.error("give a model path to render, or one of the --X-help options")
    from ..render.loop import render

    plan = make_plan(context, parser, options)
    with blamed():  # a processor (or other plugin object) failing is named
        result = render(context, plan)
    return Invocation(parser, options, result.plan, result)  # prompts as upscaled


def make_plan(context: KernelContext, parser: argparse.ArgumentParser,
              options: argparse.Namespace) -> Any:
    """The checked render plan of parsed options (``parser`` knows the declared options)."""
    from ..render.plan import build_plan

    return build_plan(options, verbose=context.verbose,
                      model_types=context.manager.registry(Category.MODEL_TYPE),
                      declared=parser.declared, plugin_dests=sorted(parser.plugin_dests))


def _wants_script(options: argparse.Namespace) -> bool:
    if options.file or options.shell:
        return True
    if (options.model_path is not None or options.no_stdin or _requested_listings(options)
            or _asks_for_model_types(options)):
        return False
    return not sys.stdin.isatty()


def run_main_command(context: KernelContext, args: Sequence[str]) -> int:
    """Parse the command line; print listings, render once, or run a config script."""
    parser = build_parser(context.manager)
    options = parser.parse_args(list(args))
    if _wants_script(options):
        from ..config.session import run_scripts

        return run_scripts(context, options, args, sys.modules[__name__])
    if options.assignments:
        parser.error("--set and --setp need a config script (--file, --shell or standard " "input)")
    if options.model_path is None and not (_requested_listings(options)
                                           or _asks_for_model_types(options)):
        parser.error("give a model path to render, a config script, or one of the --X-help "
                     "options")
    run_startup(context)
    invoke(context, args, in_script=False)
    return 0


def run_startup(context: KernelContext) -> None:
    """Run ``~/.dgenerate/init.dgen`` (its variables end with it; its plugins stay loaded)."""
    from ..config.session import make_runner
    from ..config.startup import run_startup_script

    run_startup_script(make_runner(context, sys.modules[__name__]))
