"""Help directives: the twins of the --X-help options, \\help and \\templates_help."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DirectiveContext


def _twin(option: str):
    def directive(context: DirectiveContext, args: Sequence[str]) -> None:
        print(context.help_text(option, list(args)))

    directive.__doc__ = (f"\\{option[2:].replace('-', '_')} [NAME...]\n\nThe same as "
                         f"dgenerate {option}: alone a listing, with names their help.")
    return directive


directives_help = _twin("--directives-help")
functions_help = _twin("--functions-help")
image_processor_help = _twin("--image-processor-help")
latents_processor_help = _twin("--latents-processor-help")
prompt_weighter_help = _twin("--prompt-weighter-help")
prompt_upscaler_help = _twin("--prompt-upscaler-help")
quantizer_help = _twin("--quantizer-help")
job_executor_help = _twin("--job-executor-help")
sub_command_help = _twin("--sub-command-help")


def help(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\help [DIRECTIVE...]

    Without names, list the directives; with names, show their help (the same
    as \\directives_help).
    """
    print(context.help_text("--directives-help", list(args)))


def templates_help(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\templates_help [NAME...]

    Print the template variables that are set, with their types and values
    (only the named ones, if names are given).
    """
    variables = context.variables
    names = list(args) or sorted(name for name in variables if not name.startswith("_"))
    lines = ["Config template variables:"]
    for name in names:
        if name not in variables:
            lines.append(f'    Name: "{name}"\n        (not set)')
            continue
        value = variables[name]
        lines.append(f'    Name: "{name}"\n        Type: {type(value).__name__}\n'
                     f"        Value: {value!r}")
    print("\n".join(lines))
