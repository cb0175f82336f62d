"""Running config scripts: statements in order, sharing plugins, caches and variables.

Each command line is either a ``\\directive`` (looked up in the directive
registry) or a dgenerate invocation; all invocations of a runner share the
in-memory model caches, so a script that renders many times with one model
loads it once. After each invocation the ``last_*`` template variables
describe it. Errors name the script, the line and the text.
"""

from __future__ import annotations

import difflib
import functools
import glob
import os
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, ScriptExit
from dgenerate.plugin_api.specs import Category

from ..plugins.context import KernelContext
from ..plugins.manager import PluginManager
from ..plugins.targets import blamed, resolve_target
from .lexer import Statement, lex
from .versions import check_version_line

__all__ = ["ConfigError", "ConfigRunner", "ScriptSource"]

_EXCERPT = 90


class ConfigError(DgenerateError):
    """An error in a config script, located by script name and line."""


class _Environment:
    """``env`` in templates: environment variables by attribute; unset ones are empty."""

    def __getattr__(self, name: str) -> str:
        return os.environ.get(name, "")

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name, "")

    def __contains__(self, name: object) -> bool:
        return name in os.environ


class ScriptSource:
    """Where statements come from: a file, standard input or a string."""

    def __init__(self, name: str, directory: str | None = None) -> None:
        self.name = name
        self.directory = directory or os.getcwd()


def _option_value(arguments: Sequence[str], flags: tuple[str, ...]) -> str | None:
    """The value given to one of ``flags`` in ``arguments`` (the last one wins)."""
    value = None
    for index, argument in enumerate(arguments):
        if argument in flags and index + 1 < len(arguments):
            value = arguments[index + 1]
        elif argument.startswith(tuple(flag + "=" for flag in flags)):
            value = argument.partition("=")[2]
    return value


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT - 3] + "..."


def _blaming(spec: Any, function: Callable[..., Any], bound: tuple[Any, ...]) -> Any:
    """``function`` (with ``bound`` first arguments) naming its plugin when it fails."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        with blamed(spec):
            return function(*bound, *args, **kwargs)

    return call


class ConfigRunner:
    """Runs config text; one runner is one session (a process, or one ``--shell``)."""

    def __init__(
        self,
        manager: PluginManager,
        *,
        injected_args: Sequence[str] = (),
        plugin_modules: Sequence[str] = (),
        verbose: bool = False,
        offline_mode: bool = False,
        invoke: Callable[[KernelContext, list[str]], Any] | None = None,
        warn: Callable[[str], None] | None = None,
        strict_templates: bool = False,
    ) -> None:
        from .context import ScriptContext

        self.manager = manager
        self.injected_args = list(injected_args)
        self.verbose = verbose
        self.offline_mode = offline_mode
        self.strict_templates = strict_templates
        self._undefined_warned: set[str] = set()
        self._invoke = invoke
        self._warn = warn or (lambda message: print(f"dgenerate: warning: {message}",
                                                    file=sys.stderr))
        self.source = ScriptSource("<config>")
        self.line_offset = 0
        self._current_line = 0
        self.variables: dict[str, Any] = {
            "glob": glob,
            "os": os,
            "env": _Environment(),
            "injected_args": list(injected_args),
            "injected_device": _option_value(injected_args, ("-d", "--device")),
            "injected_verbose": verbose,
            "injected_plugin_modules": list(plugin_modules),
            "saved_modules": {},
            "last_images": [],
            "last_animations": [],
        }
        self.context = ScriptContext(self)
        self._renderer: Any = None
        self._renderer_generation = -1

    # ------------------------------------------------------------ services

    def kernel_context(self, verbose: bool | None = None) -> KernelContext:
        """A context for one invocation, sharing this session's caches."""
        return KernelContext(self.manager, verbose=self.verbose if verbose is None else verbose,
                             offline_mode=self.offline_mode, caches=self.context.caches,
                             web_cache=self.context.web_cache, sharing=self.context.sharing)

    @property
    def renderer(self) -> Any:
        """The template renderer, rebuilt when plugins added functions."""
        if self._renderer is None or self._renderer_generation != self.manager.generation:
            from .templates import TemplateRenderer

            self._renderer = TemplateRenderer(self.functions(), strict=self.strict_templates)
            self._renderer_generation = self.manager.generation
        return self._renderer

    def functions(self) -> dict[str, Callable[..., Any]]:
        """Every template function, with the script context bound where asked for."""
        functions = {}
        for spec in self.manager.registry(Category.TEMPLATE_FUNCTION).specs(include_hidden=True):
            function = _blaming(spec, resolve_target(spec),
                                (self.context,) if spec.needs_context else ())
            for name in spec.names:
                functions[name] = function
        return functions

    def render(self, text: str) -> str:
        renderer = self.renderer
        rendered = renderer.render(text, self.variables)
        self._warn_undefined(renderer.undefined_names)
        return rendered

    def _warn_undefined(self, names: Sequence[str]) -> None:
        """Warn once per session about each undefined variable a line used (it expanded to
        nothing, as in dgenerate 5.0.0), naming the script and line."""
        for name in dict.fromkeys(names):
            if name in self._undefined_warned:
                continue
            self._undefined_warned.add(name)
            self._warn(f"{self.source.name}, line {self._current_line - self.line_offset}: "
                       f"the template variable {name!r} is not defined, so it expands to "
                       "nothing (--strict-templates makes this an error)")

    def expand(self, text: str) -> str:
        from dgenerate.plugin_api.shell import expand_env

        return expand_env(self.render(text))

    def gen_seed(self) -> int:
        return random.SystemRandom().randint(0, 99_999_999_999_999)

    # ------------------------------------------------------------- running

    def run(self, text: str, source: ScriptSource | None = None) -> None:
        """Run a whole script; raises :class:`ConfigError` (located) or ``ScriptExit``."""
        previous = self.source
        self.source = source or ScriptSource("<config>")
        self.line_offset = 0
        try:
            self._check_versions(text)
            self._run_statements(lex(text))
        finally:
            self.source = previous

    def _check_versions(self, text: str) -> None:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.startswith("#!"):
                warning = check_version_line(line)
                if warning:
                    self._warn(f"{self.source.name}, line {number}: {warning}")

    def _run_statements(self, statements: Any) -> None:
        for statement in statements:
            self._run_statement(statement)

    def reset_line_number(self) -> None:
        """Number the lines after the current one from 1 again (``\\reset_lineno``)."""
        self.line_offset = self._current_line

    def _locate(self, statement: Statement, error: DgenerateError) -> ConfigError:
        line = statement.line - self.line_offset
        return ConfigError(f"{self.source.name}, line {line}: {_excerpt(statement.text)}: {error}")

    def _run_statement(self, statement: Statement) -> None:
        self._current_line = statement.line
        try:
            if statement.kind == "template":
                expanded = self.render(statement.text)
            elif statement.text.startswith("\\"):
                self._directive(statement.text[1:])
                return
            else:
                self._invocation(statement.text)
                return
        except (ConfigError, ScriptExit):
            raise
        except DgenerateError as error:
            raise self._locate(statement, error) from error
        self._run_statements(lex(expanded, first_line=statement.line))

    def _directive(self, text: str) -> None:
        name, _, rest = text.partition(" ")
        name = name.strip()
        registry = self.manager.registry(Category.DIRECTIVE)
        spec = registry.find(name)
        if spec is None:
            close = difflib.get_close_matches(name, registry.names(), n=1)
            hint = f"; did you mean \\{close[0]}?" if close else ""
            raise DgenerateError(f"unknown directive \\{name}{hint} (see --directives-help)")
        directive = resolve_target(spec)
        if spec.raw:
            arguments = [self.render(rest).strip()]
        else:
            arguments = self.context.shell_parse(self.render(rest))
        with blamed(spec):
            status = directive(self.context, arguments)
        if status:
            raise DgenerateError(f"\\{spec.name} failed with exit status {status}")

    def _invocation(self, text: str) -> None:
        from dgenerate.plugin_api.shell import shell_parse

        arguments = shell_parse(self.render(text)) + self.injected_args
        if self._invoke is None:
            raise DgenerateError("this runner cannot run dgenerate invocations")
        verbose = self.verbose or "-v" in arguments or "--verbose" in arguments
        self.context.sharing.begin_invocation()
        self._invoke(self.kernel_context(verbose), arguments)
