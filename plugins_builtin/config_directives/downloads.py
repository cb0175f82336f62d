"""The ``\\download`` directive."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="\\download", exit_on_error=False,
        description="Download URL and store the local path in the template variable NAME.")
    parser.add_argument("name", metavar="NAME", help="the variable that receives the path")
    parser.add_argument("url", metavar="URL")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="a file to write, or a folder ending with / (named after the URL "
                             "or the server's file name); default: the web cache")
    parser.add_argument("-x", "--overwrite", action="store_true",
                        help="download again even when the file exists")
    parser.add_argument("-t", "--text", action="store_true",
                        help="accept text content (refused by default: this is meant for "
                             "models and images)")
    return parser


def download(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\download NAME URL [-o PATH] [-x] [-t]

    Download URL into the web cache (or to PATH; a folder when it ends with /)
    and set the template variable NAME to the file's path. An existing file is
    reused unless -x. Text content is refused unless -t. \\download --help
    shows the options.
    """
    parser = _parser()
    if "-h" in args or "--help" in args:
        print(parser.format_help())
        return
    try:
        options = parser.parse_args(list(args))
    except (argparse.ArgumentError, SystemExit) as error:
        message = (getattr(error, "message", "")
                   or "usage is \\download NAME URL [-o PATH] [-x] [-t]")
        raise DgenerateError(f"\\download: {message}") from None
    if not options.name.isidentifier():
        raise DgenerateError(f"\\download: {options.name!r} is not a valid variable name")
    context.variables[options.name] = context.download(
        options.url, options.output, overwrite=options.overwrite, text=options.text)
