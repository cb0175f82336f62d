"""Example plugin: a prompt upscaler that adds style words to every prompt.

    dgenerate --plugin-modules examples/writing_plugins/prompt_upscaler \
        --prompt-upscaler-help add-style
"""

from dgenerate.plugin_api import PromptUpscalerSpec, hookimpl


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(name="add-style", summary="Append style words to each prompt.",
                             target=".upscaler:AddStyle")
