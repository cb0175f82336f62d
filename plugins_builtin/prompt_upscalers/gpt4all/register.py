"""Registration module of the ``gpt4all`` prompt upscaler (light: the gpt4all package is
imported only when prompts are upscaled, and is optional)."""

from dgenerate.plugin_api import PromptUpscalerSpec, hookimpl


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(
        name="gpt4all",
        summary="Rewrite prompts with a GGUF LLM through gpt4all "
                "(pip install dgenerate[gpt4all]).",
        target=".upscaler:Gpt4AllUpscaler",
        requires=("gpt4all",),
    )
