"""Registration module of the ``s-cascade`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

import dataclasses

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, OptionSpec, Size, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    SECOND_MODEL_OPTIONS,
    model_uri,
)

__all__ = ["S_CASCADE_DECODER"]

S_CASCADE_DECODER = OptionSpec(
    flags=("--s-cascade-decoder",), type=model_uri, metavar="MODEL_URI",
    variable="s_cascade_decoder_uri", group="second model",
    help="The Stable Cascade decoder that turns the image embeddings of the prior (the "
         "main model) into pictures; required by --model-type s-cascade. A Hugging Face "
         "repository, a folder or a URL, with the URI arguments revision, variant "
         "(default --variant), subfolder and dtype (default --dtype), e.g. "
         '"stabilityai/stable-cascade;dtype=float16". The decoder takes the --second-model-* '
         "options; it runs 10 steps with guidance 0 unless told otherwise.")

#: the decoder's options: each needs --s-cascade-decoder
_DECODER_OPTIONS = tuple(dataclasses.replace(option, requires=("--s-cascade-decoder",))
                         for option in SECOND_MODEL_OPTIONS)


@hookimpl
def dgenerate_model_types():
    # image seeds are image (style) prompts of the prior, not noised inputs: there is no
    # strength, no mask and no latents input; --unet replaces the prior's UNet,
    # --text-encoders its text encoder (the decoder's take the --second-model-* forms) and
    # --image-encoder its image encoder (without IP adapters: this type has none)
    yield ModelTypeSpec(
        name="s-cascade",
        summary="Stable Cascade: a prior and --s-cascade-decoder; image seeds are image "
                "(style) prompts.",
        target=".family:StableCascade",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.TXT2IMG, Mode.IMG2IMG}, strength=False,
                                  batched_images=False, default_size=Size(1024, 1024),
                                  slots={"unet", "text_encoder", "image_encoder"}),
        options=(S_CASCADE_DECODER, *_DECODER_OPTIONS, MODEL_CPU_OFFLOAD,
                 MODEL_SEQUENTIAL_OFFLOAD),
    )
