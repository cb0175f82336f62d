"""Example plugin: a config-script directive.

    dgenerate --plugin-modules examples/writing_plugins/config_directive \
        --directives-help repeat

In a config script, ``\\repeat 3 hello`` prints "hello" three times. A directive
is a function of the running script's context and its (already unquoted)
arguments; it returns an exit status (None means success).
"""

from dgenerate.plugin_api import DirectiveSpec, hookimpl


@hookimpl
def dgenerate_directives():
    yield DirectiveSpec(name="repeat", summary="Print a text several times.",
                        target=".directive:repeat")
