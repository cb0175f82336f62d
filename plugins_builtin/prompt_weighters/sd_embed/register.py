"""Registration module of the ``sd-embed`` prompt weighter (light: torch is imported by the
implementations only when a prompt is weighted)."""

from dgenerate.plugin_api import PromptWeighterSpec, hookimpl


@hookimpl
def dgenerate_prompt_weighters():
    yield PromptWeighterSpec(
        name="sd-embed",
        summary="Stable Diffusion Web UI weighting syntax, (word:1.2), and prompts longer "
                "than 77 tokens (SD 1/2, SDXL, Stable Cascade, SD3, Flux).",
        target=".weighter:SdEmbed",
        requires=("torch",),
    )
