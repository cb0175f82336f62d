"""Registration module of the ``unet`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import model_uri

DGENERATE_API_VERSION = "0.3"

UNET = OptionSpec(
    flags=("-un", "--unet"),
    variable="unet_uri", type=model_uri, metavar="UNET_URI", group="model loading",
    help='The UNet to use instead of the model\'s own: "PATH;ARGUMENT=VALUE...". PATH is a '
         "Hugging Face repository id, a diffusers folder holding the UNet's config.json, a "
         "single weights file (.safetensors .ckpt .pt .pth .bin), a Hugging Face blob link "
         "or a URL. Arguments: revision (of a repository, default main), variant (the "
         "weights variant; default --variant, null for the plain weights), subfolder (the "
         "UNet's folder; in a single file that holds a whole model, the key prefix of its "
         "UNet, default unet), dtype (auto, float16, bfloat16, float32; default: the --dtype "
         "of the model) and quantizer (a --quantizer URI for this UNet alone, quoted: "
         "quantizer=\"NAME;...\"; folders and repositories only). A single file takes the "
         "configuration of the model's own UNet and must fit it; it takes only subfolder and "
         "dtype.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="unet", slot="unet",
        summary="Another UNet for the model (--unet PATH).",
        target=".loader:UNet",
        options=(UNET,))
