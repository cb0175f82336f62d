"""Registration module of the ``compel`` prompt weighter (light: torch, diffusers and
compel are imported only when a prompt is encoded)."""

from dgenerate.plugin_api import PromptWeighterSpec, hookimpl


@hookimpl
def dgenerate_prompt_weighters():
    yield PromptWeighterSpec(
        name="compel",
        summary="Weighted prompts and prompts longer than 77 tokens, with the compel library "
                "(sd, sdxl, s-cascade, flux and their variants).",
        target=".weighter:CompelWeighter",
        requires=("torch", "compel"),
    )
