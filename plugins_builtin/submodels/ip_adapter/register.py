"""Registration module of the ``ip-adapter`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl

DGENERATE_API_VERSION = "0.3"

IP_ADAPTERS = OptionSpec(
    flags=("-ipa", "--ip-adapters"),
    variable="ip_adapter_uris", several=True, metavar="IP_ADAPTER_URI",
    group="IP adapters",
    help='One or more IP adapters, used together: each steers the picture with its own '
         'group of images from --image-seeds ("adapter: a.png + b.png, c.png" or '
         '"img.png;adapter=a.png": "+" joins the images of one adapter, "," starts the '
         "next adapter's group). A URI is a Hugging Face repository (\"owner/name\"), a "
         "folder, a weights file (.safetensors, .bin, .pt, .pth, .ckpt) or an http(s) URL of "
         'one (downloaded into the web cache). Arguments, after ";" in any order: scale '
         "(default 1.0; 0 turns the adapter off) and, for a repository or folder, revision, "
         "subfolder and weight-name (the file to load; required for a repository). A single "
         "file or URL takes only scale. The image encoder is the one in the folder "
         '"image_encoder" beside the weights, unless --image-encoder names one. Example: '
         '"h94/IP-Adapter;subfolder=models;weight-name=ip-adapter_sd15.safetensors;scale=0.6".')

IMAGE_ENCODER = OptionSpec(
    flags=("-ie", "--image-encoder"),
    variable="image_encoder_uri", metavar="IMAGE_ENCODER_URI", group="IP adapters",
    help="The CLIP vision model that turns the IP adapter images into embeddings, instead "
         "of the one found beside the IP adapter weights; it needs --ip-adapters, except with "
         "a model type that takes image prompts without them (s-cascade, whose prior encodes "
         'its image seeds with it): "PATH;ARGUMENT=VALUE...". PATH is '
         "a Hugging Face repository id or a folder holding its config.json (no single files "
         "or URLs). Arguments: revision (default main), variant (the weights variant; it "
         "does not follow --variant), subfolder and dtype (auto, float16, bfloat16, float32; "
         'default: --dtype). Example: "h94/IP-Adapter;subfolder=models/image_encoder".')


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="ip_adapter", slot="ip_adapter", image_input="adapter",
        summary="IP adapters (--ip-adapters) steering the picture with images.",
        target=".adapter:IPAdapter",
        options=(IP_ADAPTERS,))
    yield SubModelSpec(
        name="image_encoder", slot="image_encoder",
        summary="The image encoder of the IP adapters (--image-encoder PATH).",
        target=".encoder:ImageEncoder",
        options=(IMAGE_ENCODER,))
