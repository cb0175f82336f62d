"""Registration module of the ``lora`` plugin (light: no torch, diffusers or peft here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl

LORAS = OptionSpec(
    flags=("-lra", "--loras"),
    variable="lora_uris", several=True, metavar="LORA_URI", group="LoRA",
    help='One or more LoRA models, used together: a Hugging Face repository '
         '("owner/name"), a folder, a weights file (.safetensors, .pt, .pth, .bin, .ckpt) or '
         'an http(s) URL of one (downloaded into the web cache). URI arguments, written '
         'after ";" in any order: scale (default 1.0; the LoRA\'s own strength) and, for a '
         'repository or folder, revision, subfolder and weight-name (the file to load). A '
         'single file or URL takes only scale. Hugging Face blob links are not accepted: give the '
         'repository with subfolder and weight-name. Example: '
         '"owner/name;scale=0.8;weight-name=style.safetensors". Diffusers/PEFT and kohya '
         '(lora_unet_/lora_te_) files are understood.')

LORA_FUSE_SCALE = OptionSpec(
    flags=("-lrfs", "--lora-fuse-scale"), type=float, default=1.0, requires=("--loras",),
    metavar="LORA_FUSE_SCALE", group="LoRA",
    help="The scale at which the LoRAs, already combined at their own scale values, are "
         "fused into the model's weights. 0 leaves the model unchanged.")


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="lora",
        slot="lora",
        summary="LoRA weights (--loras) fused into the UNet and text encoders.",
        target=".lora:LoRA",
        options=(LORAS, LORA_FUSE_SCALE),
    )
