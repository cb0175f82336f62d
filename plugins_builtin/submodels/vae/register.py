"""Registration module of the ``vae`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl

DGENERATE_API_VERSION = "0.3"

VAE = OptionSpec(
    flags=("-vae", "--vae"),
    variable="vae_uri", metavar="VAE_URI", group="model loading",
    help='The VAE to use instead of the model\'s own: "CLASS;model=PATH;ARGUMENT=VALUE..." '
         'or "CLASS;PATH". CLASS: AutoencoderKL, AsymmetricAutoencoderKL, AutoencoderTiny or '
         "ConsistencyDecoderVAE. PATH: a Hugging Face repository id or a diffusers folder; "
         "for AutoencoderKL also a weights file (.safetensors .ckpt .pt .pth .bin), a blob "
         "link or a URL. Arguments: revision, variant (it does not follow --variant), "
         "subfolder, dtype (default: --dtype) and extract=true (PATH is a whole model in one "
         "file: take its VAE). A single file takes only model, dtype and extract.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="vae", slot="vae",
        summary="Another VAE for the model (--vae CLASS;model=PATH).",
        target=".loader:Vae",
        options=(VAE,))
