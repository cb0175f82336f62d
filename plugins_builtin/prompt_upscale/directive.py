"""The ``\\prompt_upscale`` directive: the sub-command inside config scripts."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext

from .command import parse_arguments, run_options


def prompt_upscale(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\prompt_upscale -p PROMPT... [-u URI...] [--setp VARIABLE_NAME] [options]

    The prompt-upscale sub-command (see dgenerate --sub-command-help
    prompt-upscale) inside a config script. --setp VARIABLE_NAME stores the
    results as a Python list of prompt strings ("positive; negative") instead of
    printing them, for later lines: --prompts {{ quote(VARIABLE_NAME) }}.
    \\prompt_upscale --help prints the options without ending the script.
    """
    prog = "\\prompt_upscale"
    options = parse_arguments(args, prog, directive=True)
    if options is None:
        return
    name = options.setp
    if name is not None and not name.isidentifier():
        raise DgenerateError(f"{prog}: --setp {name!r} is not a valid variable name")
    prompts = run_options(context, options, prog, echo=name is None)
    if name is not None:
        context.variables[name] = [str(prompt) for prompt in prompts]
