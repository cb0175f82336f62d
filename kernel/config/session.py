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
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, ScriptExit

from ..plugins.context import KernelContext
from .runner import ConfigRunner, ScriptSource
from .startup import run_startup_script
from .variables import invocation_variables

__all__ = ["make_runner", "run_scripts"]

#: The options that belong to dgenerate itself, not to the invocations of a script: True for
#: those that take values (one or more, up to the next option).
_META = {"--file": True, "--shell": False, "--no-stdin": False, "--strict-templates": False,
         "--set": True, "--setp": True, "--plugin-modules": True, "-v": False,
         "--verbose": False, "-ofm": False, "--offline-mode": False}


def injected_arguments(arguments: Sequence[str]) -> list[str]:
    """The command line minus the meta options: what is appended to each invocation.

    Only exact spellings are meta options (argparse would read ``-o`` as a prefix of
    ``-ofm`` and ``-vt`` as ``-v t``), so every render option reaches the script.
    """
    rest: list[str] = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        index += 1
        flag, equals, _ = argument.partition("=")
        if flag in _META and _META[flag] and equals:
            continue
        if argument not in _META:
            rest.append(argument)
            continue
        if _META[argument]:
            while index < len(arguments) and not arguments[index].startswith("-"):
                index += 1
    return rest


def make_runner(context: KernelContext, commands: Any, *, injected: Sequence[str] = (),
                plugin_modules: Sequence[str] = (), strict_templates: bool = False
                ) -> ConfigRunner:
    """A runner whose invocations render through the kernel and set the ``last_*`` variables.

    ``commands`` is what runs a line and prints a listing (``invoke(context, arguments)``,
    ``listing_text(context, option, names)``): the command line layer, handed down so
    that config scripts need not import it."""
    runner: ConfigRunner

    def run_invocation(invocation_context: KernelContext, arguments: list[str]) -> None:
        outcome = commands.invoke(invocation_context, arguments)
        if outcome is not None:
            runner.variables.update(invocation_variables(outcome))

    runner = ConfigRunner(context.manager, injected_args=injected, plugin_modules=plugin_modules,
                          verbose=context.verbose, offline_mode=context.offline_mode,
                          invoke=run_invocation, strict_templates=strict_templates)
    runner.commands = commands
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
    """The script files the patterns name, in order; a folder or a pattern matching only
    folders is an error rather than nothing to run."""
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches:
            raise DgenerateError(f"--file {pattern!r}: no such file")
        found = [match for match in matches if os.path.isfile(match)]
        if not found:
            what = "is a folder" if len(matches) == 1 else "matches only folders"
            raise DgenerateError(f"--file {pattern!r} {what}; give config script files")
        files.extend(found)
    return files


def decode_script(data: bytes, name: str) -> str:
    """The text of a config script; binary data (an image given by mistake ...) is refused
    instead of running as whatever lines it happens to contain."""
    if b"\0" in data:
        raise DgenerateError(f"{name} is not a config script: it is a binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DgenerateError(f"{name} is not a config script: it is not UTF-8 text (byte "
                             f"{error.start + 1} is {data[error.start]:#04x})") from None


def _read_file(path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise DgenerateError(f"--file {path!r}: cannot read it: {error.strerror}") from None
    return decode_script(data, f"--file {path!r}")


def _read_stdin() -> str:
    binary = getattr(sys.stdin, "buffer", None)  # a replaced sys.stdin may be text only
    if binary is None:
        return sys.stdin.read()
    return decode_script(binary.read(), "standard input")


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
                arguments: Sequence[str], commands: Any) -> int:
    """Run the config script(s) the command line names; return the exit status."""
    runner = make_runner(context, commands, injected=injected_arguments(arguments),
                         plugin_modules=options.plugin_modules,
                         strict_templates=options.strict_templates)
    try:
        run_startup_script(runner)
        _assign(runner, options.assignments or [])
        if options.shell:
            return _shell(runner)
        if options.file:
            for path in _files(options.file):
                runner.run(_read_file(path),
                           ScriptSource(path, os.path.dirname(os.path.abspath(path))))
        else:
            runner.run(_read_stdin(), ScriptSource("<stdin>"))
    except ScriptExit as exit_request:
        return exit_request.code
    return 0
