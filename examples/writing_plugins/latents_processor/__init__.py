"""Example plugin: a latents processor that multiplies latents by a factor.

    dgenerate --plugin-modules examples/writing_plugins/latents_processor \
        --latents-processor-help multiply

The implementation needs torch; the registration module does not import it.
"""

from dgenerate.plugin_api import LatentsProcessorSpec, hookimpl


@hookimpl
def dgenerate_latents_processors():
    yield LatentsProcessorSpec(name="multiply", summary="Multiply latents by a factor.",
                               target=".multiply:Multiply", requires=("torch",))
