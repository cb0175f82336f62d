"""Registration module of the ``magicprompt`` prompt upscaler (light: torch and
transformers load only when prompts are upscaled)."""

from dgenerate.plugin_api import PromptUpscalerSpec, hookimpl


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(
        name="magicprompt",
        summary="Rewrite prompts with a causal LLM through transformers (MagicPrompt GPT-2 "
                "by default).",
        target=".upscaler:MagicPromptUpscaler",
        requires=("torch", "transformers"),
    )
