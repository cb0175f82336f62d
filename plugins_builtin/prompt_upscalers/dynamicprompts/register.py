"""Registration module of the ``dynamicprompts`` prompt upscaler (light: the
dynamicprompts library is imported only when a prompt is expanded)."""

from dgenerate.plugin_api import PromptUpscalerSpec, hookimpl


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(
        name="dynamicprompts",
        summary="Expand {a|b} variants and __wildcards__ into several prompts, every "
                "combination or random picks (dynamicprompts library).",
        target=".upscaler:DynamicPromptsUpscaler",
        requires=("dynamicprompts",),
    )
