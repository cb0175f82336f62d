"""Registration module of the ``translate`` prompt upscaler (light: argostranslate,
torch and transformers are imported only when a prompt is translated)."""

from dgenerate.plugin_api import PromptUpscalerSpec, hookimpl


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(
        name="translate",
        summary="Translate prompts locally with argostranslate or Helsinki-NLP opus-mt "
                "models.",
        target=".upscaler:TranslateUpscaler",
    )
