"""Errors shared by the kernel and plugins.

Every error derived from :class:`DgenerateError` is a *user* error: the command
line prints its message as one paragraph and exits with status 1, without a
traceback unless ``-v`` is given. Plugins raise these (or subclasses) for bad
input; any other exception escaping a plugin is reported as a bug in that plugin.
"""

import os


class DgenerateError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class UriSyntaxError(DgenerateError):
    """A plugin URI (``name;key=value``) that cannot be split into its parts."""


class ValueSyntaxError(DgenerateError):
    """A value (size, padding, CSV list ...) that does not follow its syntax."""


class PluginError(DgenerateError):
    """Base class of errors about plugins."""


class PluginLoadError(PluginError):
    """A plugin that could not be found or imported."""


class PluginSpecError(PluginError):
    """A plugin returned an invalid spec record (bad name, wrong type ...)."""


class PluginConflictError(PluginError):
    """Two plugins contribute the same name in one category."""


class UnknownPluginError(PluginError):
    """A name that no registered plugin provides."""


class PluginArgumentError(PluginError):
    """A URI argument a plugin does not accept, or a value of the wrong type."""


class WriteError(DgenerateError, OSError):
    """A file could not be written: the disk is full, the folder read-only, the name too
    long ... A problem of the user's environment, reported like any :class:`DgenerateError`
    (one paragraph naming the path); still an ``OSError`` for code that expects one."""

    def __init__(self, path: str | os.PathLike, error: OSError) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.filename = os.fspath(path)
        self.message = f"cannot write {self.filename!r}: {error.strerror or error}"

    def __str__(self) -> str:
        return self.message


class ScriptExit(Exception):
    """Raised by the ``\\exit`` directive: end the config script with ``code``."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


class SkipPlugin(Exception):
    """Raise at import time of a registration module to opt out quietly.

    Use it when the plugin cannot work in this environment (a missing optional
    dependency, an unsupported platform). The kernel records the plugin as
    skipped and mentions the reason only with ``-v``.
    """
