"""The ``dgenerate`` command: meta options, then a help listing, a sub-command or a render."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence

from ..version import dgenerate_version
from .bootstrap import Bootstrap, asks_for_version, bootstrap

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a terminated program
#: Set to 1 to behave as if --offline-mode were always given.
OFFLINE_VARIABLE = "DGENERATE_OFFLINE_MODE"


class Terminated(BaseException):
    """SIGTERM arrived (``kill``, a job scheduler, a container stopping). Raised where the
    program is, like Ctrl-C's KeyboardInterrupt, so that files being written are removed
    on the way out instead of left half-written as ``kill -9`` would."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_handled() -> Iterator[None]:
    """Handle SIGTERM like Ctrl-C while ``main`` runs (signals reach the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message: str) -> None:
    print(f"dgenerate: error: {message}", file=sys.stderr)


def _run(boot: Bootstrap) -> int:
    # imported here so that --version stays free of plugin machinery
    from ..plugins.context import KernelContext
    from ..plugins.manager import PluginManager
    from .commands import run_main_command, run_sub_command

    manager = PluginManager()
    manager.autoload()
    if boot.plugin_modules:
        manager.load_specifiers(boot.plugin_modules)
    offline = boot.offline_mode or os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in (
        "1", "true", "yes")
    context = KernelContext(manager, verbose=boot.verbose, offline_mode=offline)
    manager.configure(context)
    if boot.sub_command is not None:
        return run_sub_command(context, boot.sub_command, boot.sub_command_args)
    return run_main_command(context, boot.main_args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run dgenerate with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    0 success, 1 a user error (one paragraph on standard error), 2 a usage error
    from argument parsing, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    ``-v`` adds tracebacks to errors.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if asks_for_version(arguments):
        print(f"dgenerate {dgenerate_version()}")
        return EXIT_OK
    from dgenerate.plugin_api.errors import DgenerateError  # after --version: keep it instant

    verbose = "-v" in arguments or "--verbose" in arguments
    try:
        boot = bootstrap(arguments)
    except argparse.ArgumentError as error:
        print(f"usage: dgenerate [-h] ...\ndgenerate: error: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _sigterm_handled():
            return _run(boot)
    except DgenerateError as error:
        if verbose:
            traceback.print_exc()
        _error(str(error))
        return EXIT_ERROR
    except SystemExit as exit_request:  # argparse: --help (0) or a usage error (2)
        code = exit_request.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_ERROR)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _error("terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:  # the reader went away (dgenerate ... | head): stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as error:  # a bug, most likely in a plugin: say so without a traceback
        if verbose:
            traceback.print_exc()
        _error(f"unexpected {type(error).__name__}: {error} "
               f"({'see the traceback above' if verbose else 'run with -v for a traceback'})")
        return EXIT_ERROR
