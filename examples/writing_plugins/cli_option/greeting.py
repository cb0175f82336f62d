"""Example plugin: a plugin-owned command-line option and one-time set-up.

    dgenerate --plugin-modules examples/writing_plugins/cli_option/greeting.py --help

``dgenerate_add_options`` declares options of the main command (they appear in
--help under this plugin's name); ``dgenerate_configure`` runs once when the
plugin is loaded, even when a config script loads it later.
"""

from dgenerate.plugin_api import hookimpl


@hookimpl
def dgenerate_add_options(options):
    options.add_option("--greeting", metavar="TEXT",
                       help="A text the greeting example plugin prints before rendering.")


@hookimpl
def dgenerate_configure(context):
    if context.verbose:
        print("greeting plugin: configured")
