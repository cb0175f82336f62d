"""Registration module of the ``prompt-upscale`` plugin (light: nothing imported)."""

from dgenerate.plugin_api import DirectiveSpec, SubCommandSpec, hookimpl


@hookimpl
def dgenerate_sub_commands():
    yield SubCommandSpec(
        name="prompt-upscale",
        summary="Run prompt upscalers on prompts and print or save the results.",
        target=".command:PromptUpscale",
    )


@hookimpl
def dgenerate_directives():
    yield DirectiveSpec(
        name="prompt_upscale",
        summary="Upscale prompts like --sub-command prompt-upscale; --setp keeps them in a "
                "variable.",
        target=".directive:prompt_upscale",
    )
