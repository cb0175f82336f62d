"""Running config scripts from the command line: ``--file``, ``--shell``, standard input.

Options given on the command line beside a script (other than the meta
options) are *injected*: appended to every invocation in the script, and
available as the ``injected_*`` template variables. ``--set`` and ``--setp``
assign variables, in command line order, before the script runs.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Sequence

from dgenerate.plugin_api.errors import DgenerateError, ScriptExit

from ..plugins.context import KernelContext
from .runner import ConfigRunner, ScriptSource
from .startup import run_startup_script
from .variables import invocation_variables

__all__ = ["make_runner", "run_scripts"]

_META = (("--file", "+"), ("--shell", 0), ("--no-stdin", 0), ("--set", "+"), ("--setp", "+"),
         ("--plugin-modules", "+"), ("-v", 0), ("--verbose", 0), ("-ofm", 0),
         ("--offline-mode", 0))


def injected_arguments(arguments: Sequence[str]) -> list[str]:
    """The command line minus the meta options: what is appended to each invocation."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag, nargs in _META:
        if nargs == 0:
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, nargs=nargs, action="append")
    _, rest = parser.parse_known_args(list(arguments))
    return rest


def make_runner(context: KernelContext, *, injected: Sequence[str] = (),
                plugin_modules: Sequence[str] = ()) -> ConfigRunner:
    """A runner whose invocations render through the kernel and set the ``last_*`` variables."""
    from ..cli.commands import invoke

    runner: ConfigRunner

    def run_invocation(invocation_context: KernelContext, arguments: list[str]) -> None:
        outcome = invoke(invocation_context, arguments)
        if outcome is not None:
            runner.variables.update(invocation_variables(outcome))

    runner = ConfigRunner(context.manager, injected_args=injected, plugin_modules=plugin_modules,
                          verbose=context.verbose, offline_mode=context.offline_mode,
                          invoke=run_invocation)
    return runner


def _assign(runner: ConfigRunner, assignments: Sequence[tuple[str, str]]) -> None:
    for kind, text in assignments:
        name, equals, value = text.partition("=")
        if not equals or not name.strip():
            raise DgenerateError(f"--{kind} {text!r}: expected VARIABLE=VALUE")
        name = runner.expand(name).strip()
        if not name.isidentifier():
            raise DgenerateError(f"--{kind} {text!r}: {name!r} is not a valid variable name")
        if kind == "set":
            runner.variables[name] = runner.expand(value).strip()
        else:
            runner.variables[name] = runner.context.evaluate(runner.expand(value))


def _files(patterns: Sequence[str]) -> list[str]:
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches:
            raise DgenerateError(f"--file {pattern!r}: no such file")
        files.extend(match for match in matches if os.path.isfile(match))
    return files


def _shell(runner: ConfigRunner) -> int:
    """Read chunks separated by empty lines; run each; report errors and go on."""
    source = ScriptSource("<shell>")
    chunk: list[str] = []
    for line in sys.stdin:
        if line.strip():
            chunk.append(line)
            continue
        if not chunk:
            continue
        text, chunk = "".join(chunk), []
        try:
            runner.run(text, source)
        except ScriptExit as exit_request:
            return exit_request.code
        except DgenerateError as error:
            print(f"dgenerate: error: {error}", file=sys.stderr)
        sys.stdout.flush()
    if chunk:
        try:
            runner.run("".join(chunk), source)
        except ScriptExit as exit_request:
            return exit_request.code
        except DgenerateError as error:
            print(f"dgenerate: error: {error}", file=sys.stderr)
    return 0


def run_scripts(context: KernelContext, options: argparse.Namespace,
                arguments: Sequence[str]) -> int:
    """Run the config script(s) the command line names; return the exit status."""
    runner = make_runner(context, injected=injected_arguments(arguments),
                         plugin_modules=options.plugin_modules)
    try:
        run_startup_script(runner)
        _assign(runner, options.assignments or [])
        if options.shell:
            return _shell(runner)
        if options.file:
            for path in _files(options.file):
                with open(path, encoding="utf-8") as file:
                    text = file.read()
                runner.run(text, ScriptSource(path, os.path.dirname(os.path.abspath(path))))
        else:
            runner.run(sys.stdin.read(), ScriptSource("<stdin>"))
    except ScriptExit as exit_request:
        return exit_request.code
    return 0
