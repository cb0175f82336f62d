"""``prompt-upscale``: run prompt upscaler chains on prompts, without generating images."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api import Category, DgenerateError, PluginContext, PromptUpscaler, SubCommand
from dgenerate.plugin_api.files import atomic_output, remove_stale_temporaries
from dgenerate.plugin_api.prompts import parse_prompt, upscale_prompts
from dgenerate.plugin_api.values import Prompt

from .formats import FORMATS, QUOTES, render

__all__ = ["PromptUpscale", "build_parser", "parse_arguments", "run_options", "run_prompt_upscale"]

_DEVICE = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")


def build_parser(prog: str = "prompt-upscale", *, directive: bool = False
                 ) -> argparse.ArgumentParser:
    """The options of the sub-command; the directive adds ``--setp``."""
    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run prompt upscalers on prompts without generating images, and print\n"
                    "the results or write them to a file (plain or quoted text, json, toml,\n"
                    "yaml).")
    parser.add_argument(
        "-p", "--prompts", nargs="+", required=True, metavar="PROMPTS",
        help="prompts as dgenerate --prompts takes them (\"positive; negative\"). An embedded "
             "<upscaler: URI> gives that prompt its own chain instead of --upscaler. Every "
             "other embedded argument (<seed: 1> ...) is not acted on: it stays in the "
             "results, moved to the front of the positive part")
    parser.add_argument(
        "-u", "--upscaler", "--upscalers", nargs="+", dest="upscalers", default=[],
        metavar="PROMPT_UPSCALER_URI",
        help="prompt upscaler URIs, like dgenerate --prompt-upscaler; several are a chain run "
             "in order (see dgenerate --prompt-upscaler-help)")
    parser.add_argument(
        "-d", "--device", metavar="DEVICE", default="auto",
        help="device for upscalers that run a model: cpu, cuda, cuda:N, mps, xpu, xpu:N "
             "(default: auto, which is cuda when present, then xpu, then mps, else cpu)")
    parser.add_argument(
        "-of", "--output-format", metavar="OUTPUT_FORMAT", default="text",
        help=f"{', '.join(FORMATS)} (default: text). text writes one prompt per line; the "
             "others write {\"prompts\": [{\"positive\": ..., \"negative\": ...}, ...]}, "
             "negative only where a prompt has one")
    parser.add_argument("-o", "--output", metavar="OUTPUT",
                        help="write to this file (replaced whole) instead of printing")
    parser.add_argument(
        "-q", "--quote", metavar="QUOTE", default="none",
        help="quoting of text output: none (as is; a prompt holding a line break spans "
             "lines), shell (POSIX shell words, shlex.quote), dgenerate (config script words "
             "that read back exactly). Default: none")
    parser.add_argument("-ofm", "--offline-mode", action="store_true",
                        help="upscalers may only use models already on disk; nothing is "
                             "downloaded")
    if directive:
        parser.add_argument(
            "--setp", metavar="VARIABLE_NAME",
            help="store the results in this template variable as a Python list of prompt "
                 "strings (\"positive; negative\") and print nothing; -o still writes")
    return parser


class _OfflineContext:
    """The context, but in offline mode: handed to upscalers when -ofm is given to the
    directive (the sub-command's -ofm already sets the context's own)."""

    def __init__(self, context: PluginContext) -> None:
        self._context = context

    @property
    def offline_mode(self) -> bool:
        return True

    def fetch(self, url: str) -> str:
        from dgenerate.plugin_api.webcache import WebCache

        return WebCache(offline=True).fetch(url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _choice(value: str, choices: Sequence[str], option: str, prog: str) -> str:
    lowered = value.strip().lower()
    if lowered not in choices:
        raise DgenerateError(f"{prog}: {option} {value!r} is not one of {', '.join(choices)}")
    return lowered


def _check(options: argparse.Namespace, prog: str) -> None:
    options.output_format = _choice(options.output_format, FORMATS, "--output-format", prog)
    options.quote = _choice(options.quote, QUOTES, "--quote", prog)
    if options.quote != "none" and options.output_format != "text":
        raise DgenerateError(f"{prog}: --quote {options.quote} applies to --output-format "
                             f"text only, not {options.output_format}")
    if not _DEVICE.fullmatch(options.device):
        raise DgenerateError(f"{prog}: --device {options.device!r} is not auto, cpu, cuda, "
                             "cuda:N, mps, xpu or xpu:N")


def upscale(context: PluginContext, options: argparse.Namespace) -> list[Prompt]:
    """The prompts of ``options`` through their chains; each URI is created once."""
    if options.offline_mode and not context.offline_mode:
        context = _OfflineContext(context)  # type: ignore[assignment]
    created: dict[str, PromptUpscaler] = {}

    def create(uri: str) -> PromptUpscaler:
        if uri not in created:
            created[uri] = context.create(Category.PROMPT_UPSCALER, uri, device=options.device,
                                          context=context)
        return created[uri]

    return upscale_prompts([parse_prompt(text) for text in options.prompts],
                           options.upscalers, create)


def write_output(text: str, path: str, prog: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed over it)."""
    folder = os.path.dirname(path)
    if folder:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise DgenerateError(f"{prog}: cannot create the folder {folder!r}: "
                                 f"{error.strerror or error}") from None
    remove_stale_temporaries(folder or ".")
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="")


def run_options(context: PluginContext, options: argparse.Namespace, prog: str, *,
        echo: bool = True) -> list[Prompt]:
    """Check the options, upscale, then print the results (``echo``) or write ``-o``."""
    _check(options, prog)
    prompts = upscale(context, options)
    text = render(prompts, options.output_format, options.quote)
    if options.output:
        write_output(text, options.output, prog)
    elif echo:
        sys.stdout.write(text)
        sys.stdout.flush()
    return prompts


def parse_arguments(args: Sequence[str], prog: str, *, directive: bool = False
                    ) -> argparse.Namespace | None:
    """The options, or ``None`` when only ``--help`` was printed; a usage mistake is a
    :class:`DgenerateError` (argparse prints the details first)."""
    parser = build_parser(prog, directive=directive)
    if "-h" in args or "--help" in args:
        print(parser.format_help())
        return None
    try:
        return parser.parse_args(list(args))
    except SystemExit:  # argparse printed the usage and the problem
        raise DgenerateError(f"{prog}: invalid arguments (see {prog} --help)") from None


def run_prompt_upscale(context: PluginContext, args: Sequence[str], *,
                       prog: str = "prompt-upscale") -> list[Prompt] | None:
    """Parse ``args`` and run; ``None`` when only ``--help`` was printed."""
    options = parse_arguments(args, prog)
    return None if options is None else run_options(context, options, prog)


class PromptUpscale(SubCommand):
    """Run prompt upscalers on prompts, without generating images.

    Each prompt goes through its chain (--upscaler, or its own <upscaler: URI>
    arguments), and every resulting prompt is printed, or written with -o, as text
    (one prompt per line, optionally quoted) or as a json, toml or yaml document.
    """

    def create_parser(self) -> argparse.ArgumentParser:
        return build_parser(self.name)

    def run(self, options: argparse.Namespace) -> int:
        run_options(self.context, options, self.name)
        return 0
