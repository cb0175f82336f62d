"""Registration module of the ``text-encoders`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl

DGENERATE_API_VERSION = "0.3"

TEXT_ENCODERS = OptionSpec(
    flags=("-te", "--text-encoders"),
    variable="text_encoder_uris", several=True, metavar="TEXT_ENCODER_URI",
    group="model loading",
    help='Text encoders to use instead of the model\'s own, one per text encoder of its '
         'pipeline, in the pipeline\'s order: "CLASS;model=PATH;ARGUMENT=VALUE..." (or '
         '"CLASS;PATH"). CLASS: CLIPTextModel, CLIPTextModelWithProjection or '
         "T5EncoderModel, the class of the slot it fills. PATH: a Hugging Face repository id "
         "or a diffusers/transformers folder, or with mode= a single-file encoder (file, URL "
         "or blob link). Arguments: revision, variant (default --variant, null for none), "
         "subfolder (text_encoder, text_encoder_2 ... in a whole model), dtype (default: "
         "--dtype), mode (clip-l, t5-xxl, clip-l-sd3, clip-g-sd3, t5-xxl-sd3, "
         "clip-l-sd35-large, clip-g-sd35-large; not with subfolder) and quantizer (with "
         "mode). + keeps the model's own text encoder in that "
         "slot (or the one \\use_modules shares in a config script), null leaves the slot "
         "empty (where the pipeline allows it); slots after the last URI keep their own. "
         "--text-encoders help lists the slots of the model.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="text-encoders", slot="text_encoder",
        summary="Other text encoders for the model (--text-encoders URI ...).",
        target=".loader:TextEncoders",
        options=(TEXT_ENCODERS,))
