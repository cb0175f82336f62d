"""The ``--X-help`` options: which registry each one lists."""

from __future__ import annotations

import dataclasses

from dgenerate.plugin_api.specs import Category

__all__ = ["HELP_OPTIONS", "TEMPLATES_HELP", "HelpOption"]


@dataclasses.dataclass(frozen=True)
class HelpOption:
    flag: str
    metavar: str
    category: Category | None  # None: template variables, not a plugin registry
    help: str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


_LIST = ("Alone, list the {plural}. With names, show for each its arguments, "
         "with types and defaults, and its description. Plugins loaded with "
         "--plugin-modules are included.")

TEMPLATES_HELP = HelpOption(
    "--templates-help", "VARIABLE_NAME", None,
    "List the template variables that config scripts can use, with their types; "
    "with names, show only those.")

HELP_OPTIONS: tuple[HelpOption, ...] = (
    HelpOption("--sub-command-help", "SUB_COMMAND", Category.SUB_COMMAND,
               "Alone, list the sub-commands. With names, show each one's usage "
               "(the same as --sub-command NAME --help)."),
    TEMPLATES_HELP,
    HelpOption("--directives-help", "DIRECTIVE_NAME", Category.DIRECTIVE,
               "Alone, list the config script directives. With names (the leading "
               "backslash may be left out), show their documentation."),
    HelpOption("--functions-help", "FUNCTION_NAME", Category.TEMPLATE_FUNCTION,
               "Alone, list the config template functions with their signatures. "
               "With names, show their documentation."),
    HelpOption("--image-processor-help", "PROCESSOR_NAME", Category.IMAGE_PROCESSOR,
               _LIST.format(plural="image processors")),
    HelpOption("--latents-processor-help", "LATENTS_PROCESSOR_NAME",
               Category.LATENTS_PROCESSOR, _LIST.format(plural="latents processors")),
    HelpOption("--prompt-weighter-help", "PROMPT_WEIGHTER_NAME", Category.PROMPT_WEIGHTER,
               _LIST.format(plural="prompt weighters")),
    HelpOption("--prompt-upscaler-help", "PROMPT_UPSCALER_NAME", Category.PROMPT_UPSCALER,
               _LIST.format(plural="prompt upscalers")),
    HelpOption("--quantizer-help", "QUANTIZER_NAME", Category.QUANTIZER,
               _LIST.format(plural="quantization backends")),
    HelpOption("--job-executor-help", "JOB_EXECUTOR_NAME", Category.JOB_EXECUTOR,
               _LIST.format(plural="job executors")),
)
