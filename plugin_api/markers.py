"""The pluggy markers of the ``dgenerate`` project.

Plugin authors decorate their hook implementations with :data:`hookimpl`;
the kernel declares the hook specifications with :data:`hookspec`.
"""

import pluggy

PROJECT_NAME = "dgenerate"

#: Marks a function in a registration module as a hook implementation.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Marks a hook specification (used by :mod:`dgenerate.plugin_api.hookspecs`).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Every hook name starts with this prefix; the kernel ignores other attributes.
HOOK_PREFIX = "dgenerate_"
