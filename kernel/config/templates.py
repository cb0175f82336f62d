"""The Jinja2 environment of config scripts: template functions as globals and filters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["TemplateRenderer"]


class TemplateRenderer:
    """Renders config text with the script's variables and the registered functions.

    Undefined variables are errors (``{% if x is defined %}`` still works), so a
    typo is reported instead of silently expanding to nothing.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]]) -> None:
        import jinja2

        self._jinja = jinja2
        self.environment = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
            autoescape=False)  # config text, not HTML
        self.environment.globals.update(functions)
        self.environment.filters.update(functions)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - renderers live as long as their script
    def _compile(self, text: str) -> Any:
        return self.environment.from_string(text)

    def render(self, text: str, variables: Mapping[str, Any]) -> str:
        if "{" not in text:
            return text
        try:
            return self._compile(text).render(**variables)
        except self._jinja.TemplateSyntaxError as error:
            raise DgenerateError(f"template syntax error: {error.message}") from None
        except self._jinja.UndefinedError as error:
            raise DgenerateError(f"template error: {error.message}") from None
        except DgenerateError:
            raise
        except Exception as error:
            raise DgenerateError(
                f"template error: {type(error).__name__}: {error}") from None
