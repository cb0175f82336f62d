"""Registration module of the ``t2i-adapter`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import model_uri, unit_float

DGENERATE_API_VERSION = "0.3"

_GROUP = "T2I adapters"

T2I_ADAPTERS = OptionSpec(
    flags=("-t2i", "--t2i-adapters"),
    variable="t2i_adapter_uris", type=model_uri, several=True, metavar="T2I_ADAPTER_URI",
    group=_GROUP,
    help="One or more T2I adapters that steer txt2img with control images, used together: a "
         "Hugging Face repository id, a diffusers folder, a weights file (.safetensors .pt "
         ".pth .bin .ckpt), a Hugging Face blob link or an http(s) URL of a file. Each takes "
         "one control image from --image-seeds (\"edges.png\", or \"a.png, b.png\" for two "
         "adapters), in the same order. URI arguments after \";\": scale (default 1.0; how "
         "strongly the adapter steers), revision, variant (it does not follow --variant), "
         "subfolder and dtype (default --dtype). A single file takes only scale and dtype "
         "(a blob link also revision). Example: \"owner/canny-adapter;scale=0.6\". Not with "
         "--control-nets, and txt2img only (no img2img image or mask in --image-seeds).")

SDXL_T2I_ADAPTER_FACTORS = OptionSpec(
    flags=("--sdxl-t2i-adapter-factors",),
    prompt_argument="sdxl-t2i-adapter-factor",
    type=unit_float, axis=True, metavar="FLOAT",
    model_types=("sdxl",), requires=("--t2i-adapters",), token="t2if", position=700,
    group=_GROUP,
    help="Fractions of the inference steps, from the first one, during which the T2I "
         "adapters steer the image, to try (from 0 to 1; default 1: every step). 0.5 lets "
         "them act on the first half of the steps only. Applies to every adapter given.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="t2i_adapter", slot="t2i_adapter", image_input="control",
        summary="T2I adapters (--t2i-adapters) steering txt2img with control images.",
        target=".loader:T2IAdapterKind",
        options=(T2I_ADAPTERS, SDXL_T2I_ADAPTER_FACTORS))
