"""dgenerate's builtin plugins.

Each sub-package is an ordinary plugin, written against ``dgenerate.plugin_api``
only and listed under the ``dgenerate.plugins`` entry-point group in our
pyproject.toml, exactly as a third-party package would list its own.
"""
