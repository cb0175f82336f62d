"""The ``\\exec`` directive: system commands with pipes and redirections.

Implemented on :mod:`subprocess` rather than a shell, so it behaves the same on
every platform: ``a | b``, ``< in``, ``> out``, ``>> out``, ``2> err``,
``2>> err``, ``&> both``, ``&>> both``, ``2>&1`` and ``1>&2``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api import DgenerateError, DirectiveContext

_OUT, _ERR = 1, 2


def _environment() -> dict[str, str]:
    # dgenerate's own environment (python, pip, accelerate ...) comes first on PATH
    environment = dict(os.environ)
    scripts = os.path.dirname(sys.executable)
    environment["PATH"] = scripts + os.pathsep + environment.get("PATH", "")
    return environment


class _Command:
    def __init__(self) -> None:
        self.words: list[str] = []
        self.stdin: str | None = None
        self.outputs: dict[int, tuple[str, str]] = {}  # fd -> (path, mode)
        self.duplicates: dict[int, int] = {}  # 2>&1 -> {2: 1}


def _parse(tokens: Sequence[str]) -> list[_Command]:
    commands = [_Command()]
    iterator = iter(tokens)
    for token in iterator:
        command = commands[-1]
        if token == "|":
            if not command.words:
                raise DgenerateError("\\exec: a '|' has no command before it")
            commands.append(_Command())
            continue
        if token.endswith(("&1", "&2")) and ">" in token and token[0] in "12>":
            source = int(token[0]) if token[0].isdigit() else _OUT
            command.duplicates[source] = int(token[-1])
            continue
        if token in ("<", ">", ">>", "1>", "1>>", "2>", "2>>", "&>", "&>>"):
            target = next(iterator, None)
            if target is None or target in ("|", "<", ">"):
                raise DgenerateError(f"\\exec: {token!r} needs a file name after it")
            if token == "<":
                command.stdin = target
                continue
            mode = "a" if token.endswith(">>") else "w"
            descriptors = (_OUT, _ERR) if token.startswith("&") else (
                (_ERR,) if token.startswith("2") else (_OUT,))
            for descriptor in descriptors:
                command.outputs[descriptor] = (target, mode)
            continue
        command.words.append(token)
    if not commands[-1].words:
        raise DgenerateError("\\exec: a command is missing")
    return commands


def _run(commands: list[_Command]) -> int:
    with contextlib.ExitStack() as files:
        opened: dict[tuple[str, str], Any] = {}

        def open_file(path: str, mode: str) -> Any:
            if (path, mode) not in opened:
                try:
                    opened[(path, mode)] = files.enter_context(open(path, mode + "b"))
                except OSError as error:
                    raise DgenerateError(f"\\exec: cannot open {path!r}: {error.strerror}"
                                         ) from None
            return opened[(path, mode)]

        processes: list[subprocess.Popen] = []
        previous_output = None
        for index, command in enumerate(commands):
            last = index == len(commands) - 1
            stdin = open_file(command.stdin, "r") if command.stdin else previous_output
            streams = {descriptor: open_file(*target)
                       for descriptor, target in command.outputs.items()}
            stdout = streams.get(_OUT, None if last else subprocess.PIPE)
            stderr = streams.get(_ERR)
            if command.duplicates.get(_ERR) == _OUT:
                stderr = subprocess.STDOUT
            if command.duplicates.get(_OUT) == _ERR:
                stdout = stderr if stderr is not None else sys.stderr.fileno()
            try:
                process = subprocess.Popen(command.words, stdin=stdin, stdout=stdout,
                                           stderr=stderr, env=_environment())
            except OSError as error:
                raise DgenerateError(
                    f"\\exec: cannot run {command.words[0]!r}: {error.strerror}") from None
            if previous_output is not None:
                previous_output.close()  # the next process owns the pipe now
            previous_output = process.stdout if stdout == subprocess.PIPE else None
            processes.append(process)
        statuses = [process.wait() for process in processes]
    return statuses[-1]


def execute(context: DirectiveContext, args: Sequence[str]) -> int:
    """\\exec COMMAND [ARGS...] [| COMMAND ...] [REDIRECTIONS]

    Run system commands. Pipes and bash-style redirections work on every
    platform: <, >, >>, 2>, 2>>, &>, &>>, 2>&1, 1>&2. dgenerate's own Python
    environment is first on PATH, so "python" and "accelerate" are the ones
    dgenerate uses. A command ending with a non-zero status stops the script.
    """
    tokens = context.shell_parse(args[0], operators=True)
    if not tokens:
        raise DgenerateError("\\exec: usage is \\exec COMMAND [ARGS...]")
    sys.stdout.flush()
    sys.stderr.flush()
    return _run(_parse(tokens))
