"""Registration module of the ``attention`` prompt upscaler (light: spaCy and its
language pipelines load only when a prompt is rewritten)."""

from dgenerate.plugin_api import PromptUpscalerSpec, hookimpl


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(
        name="attention",
        summary="Give the noun chunks of a prompt random attention weights, in sd-embed "
                "or compel syntax (spaCy).",
        target=".upscaler:AttentionUpscaler",
        requires=("spacy",),
    )
