"""Registration module of the ``transformer`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import model_uri

DGENERATE_API_VERSION = "0.3"

TRANSFORMER = OptionSpec(
    flags=("-tf", "--transformer"),
    variable="transformer_uri", type=model_uri, metavar="TRANSFORMER_URI",
    group="model loading",
    help='The diffusion transformer to use instead of the model\'s own (SD3 and Flux): '
         '"PATH;ARGUMENT=VALUE...". PATH is a Hugging Face repository id, a diffusers folder '
         "holding the transformer's config.json, a single weights file (.safetensors .ckpt "
         ".pt .pth .bin, in the diffusers or the original layout), a Hugging Face blob link "
         "or a URL. Arguments: revision (of a repository or blob link, default main), "
         "variant (the weights variant; default --variant, null for the plain weights), "
         "subfolder (the transformer's folder, such as transformer), dtype (auto, float16, "
         "bfloat16, float32; default: the --dtype of the model) and quantizer (a --quantizer "
         "URI for this transformer alone, quoted: quantizer=\"NAME;...\"). A single file "
         "takes the configuration of the model's own transformer and must fit it; it takes "
         "only dtype and quantizer.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="transformer", slot="transformer",
        summary="Another diffusion transformer for SD3 and Flux models (--transformer PATH).",
        target=".loader:Transformer",
        options=(TRANSFORMER,))
