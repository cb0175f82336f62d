"""Example plugin: template functions for config scripts.

    dgenerate --plugin-modules examples/writing_plugins/template_function/text_functions.py \
        --functions-help

Template functions are plain Python functions; their signature and docstring
are the help. They are usable as filters too: ``{{ "cat" | pluralize }}``.
"""

from dgenerate.plugin_api import TemplateFunctionSpec, hookimpl


def pluralize(word: str, count: int = 2) -> str:
    """Return the plural of an English noun when count is not 1 (adds "s" or "es")."""
    if count == 1:
        return word
    return word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s")


def title_words(text: str) -> str:
    """Capitalize every word of the text."""
    return " ".join(word.capitalize() for word in text.split())


@hookimpl
def dgenerate_template_functions():
    yield TemplateFunctionSpec(name="pluralize", summary="Plural of a noun.", target=pluralize)
    yield TemplateFunctionSpec(name="title_words", summary="Capitalize every word.",
                               target=title_words)
