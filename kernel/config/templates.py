"""The Jinja2 environment of config scripts: template functions as globals and filters."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["STRICT_VARIABLE", "TemplateRenderer", "strict_from_environment"]

#: Set to 1 to make undefined template variables errors (like --strict-templates).
STRICT_VARIABLE = "DGENERATE_STRICT_TEMPLATES"


def strict_from_environment() -> bool:
    """``DGENERATE_STRICT_TEMPLATES`` is set to a true value (read at each render, so a
    script may switch it with ``\\env``)."""
    return os.environ.get(STRICT_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def _recording_undefined(jinja2: Any, used: list[str]) -> type:
    """Jinja2's default ``Undefined`` (empty in text, an empty loop, false in tests), noting
    the name of every undefined variable that is written out or looped over."""

    class RecordingUndefined(jinja2.Undefined):
        __slots__ = ()

        def _note(self) -> None:
            if self._undefined_name is not None:
                used.append(self._undefined_name)

        def __str__(self) -> str:
            self._note()
            return ""

        def __iter__(self):  # type: ignore[no-untyped-def]
            self._note()
            return iter(())

    return RecordingUndefined


class TemplateRenderer:
    """Renders config text with the script's variables and the registered functions.

    As in dgenerate 5.0.0 an undefined variable expands to nothing (published
    scripts rely on it: ``{{ auth_token }}`` unset); the names used so are listed in
    :attr:`undefined_names` after each render, for the runner to warn about. With
    ``strict`` they are errors instead, so a typo stops the script.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *,
                 strict: bool = False) -> None:
        import jinja2

        self._jinja = jinja2
        self.strict = strict
        self.undefined_names: list[str] = []
        self._environments = {
            lenient: self._environment(
                jinja2.StrictUndefined if not lenient
                else _recording_undefined(jinja2, self.undefined_names), functions)
            for lenient in (True, False)}

    def _environment(self, undefined: type, functions: Mapping[str, Callable[..., Any]]) -> Any:
        environment = self._jinja.Environment(
            undefined=undefined, keep_trailing_newline=True,
            autoescape=False)  # config text, not HTML
        environment.globals.update(functions)
        # functions are filters too ({{ "a b" | quote }}), but never in place of Jinja2's own
        # filters, which scripts use as Jinja2 documents them (map, list, sum, round ...)
        for name, function in functions.items():
            environment.filters.setdefault(name, function)
        return environment

    def _is_strict(self) -> bool:
        return self.strict or strict_from_environment()

    @functools.lru_cache(maxsize=256)  # noqa: B019 - renderers live as long as their script
    def _compile(self, text: str, strict: bool) -> Any:
        return self._environments[not strict].from_string(text)

    def render(self, text: str, variables: Mapping[str, Any]) -> str:
        self.undefined_names.clear()
        if "{" not in text:
            return text
        try:
            return self._compile(text, self._is_strict()).render(**variables)
        except self._jinja.TemplateSyntaxError as error:
            raise DgenerateError(f"template syntax error: {error.message}") from None
        except self._jinja.UndefinedError as error:
            raise DgenerateError(f"template error: {error.message}") from None
        except DgenerateError:
            raise
        except Exception as error:
            raise DgenerateError(f"template error: {type(error).__name__}: {error}") from None
