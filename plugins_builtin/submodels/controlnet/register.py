"""Registration module of the ``controlnet`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import model_uri

DGENERATE_API_VERSION = "0.3"

CONTROL_NETS = OptionSpec(
    flags=("-cn", "--control-nets"),
    variable="controlnet_uris", several=True, type=model_uri, metavar="CONTROLNET_URI",
    group="ControlNets",
    help='One or more ControlNets guiding the model, each with one control image from '
         '--image-seeds (in the same order): "PATH;ARGUMENT=VALUE...". PATH is a Hugging '
         "Face repository id, a diffusers folder, a weights file (.safetensors .ckpt .pt "
         ".pth .bin), a Hugging Face blob link or a URL. Arguments: scale (the strength of "
         "its guidance, default 1.0), start and end (the fraction of the steps where its "
         "guidance begins and ends, default 0.0 and 1.0), mode (the control mode of a union "
         "ControlNet: a name such as depth or canny, or a number), revision, variant (it does "
         "not follow --variant), subfolder, dtype (default: --dtype) and quantizer (a "
         '--quantizer URI, quoted: quantizer="NAME;..."). A single file takes only scale, '
         "start, end and dtype. Several URIs of one union ControlNet differ only in mode and "
         "scale. Not together with --t2i-adapters.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="controlnet", slot="controlnet",
        summary="ControlNets guiding the model with control images (--control-nets).",
        target=".loader:ControlNets",
        options=(CONTROL_NETS,),
        image_input="control")
