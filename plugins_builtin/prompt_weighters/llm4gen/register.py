"""Registration module of the ``llm4gen`` prompt weighter (light: torch, transformers and
the hub client are imported only when a prompt is encoded)."""

from dgenerate.plugin_api import PromptWeighterSpec, hookimpl


@hookimpl
def dgenerate_prompt_weighters():
    yield PromptWeighterSpec(
        name="llm4gen",
        summary="LLM4GEN: RankGen T5 features fused into CLIP's through the LLM4GEN "
                "cross-adapter (Stable Diffusion 1.5: sd, pix2pix, upscaler-x4).",
        target=".weighter:Llm4genWeighter",
        requires=("torch", "transformers", "huggingface_hub"),
    )
