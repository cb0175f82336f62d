"""Tiny random-weight T2I adapters that fit the tiny UNets of tests/tiny_models.py.

An adapter adds one feature map to the output of each UNet down block, so its widths
are the UNet's ``block_out_channels`` and its feature sizes the down blocks' sizes:

* tiny_sd's UNet (16, 32) has a cross-attention block at 1/8 of the image, then a
  plain block at 1/16: a ``full_adapter`` with channels (16, 32) and a pixel unshuffle
  of 8 makes a 16 wide map at 1/8 and a 32 wide one at 1/16.
* tiny_sdxl's UNet (16, 32) downsamples in its first (plain) block, so both its blocks
  end at 1/16: a ``full_adapter_xl`` with channels (16, 32) and an unshuffle of 16
  makes both maps at 1/16 (the XL adapter's third block is the one that halves).

Besides ``save_pretrained`` folders, the weights are written as single files: in the
diffusers key layout (what a Hugging Face repository holds, without config.json) and,
for the SD adapter, in the original TencentARC layout (``body.<n>.block1`` ...).
"""

from __future__ import annotations

import os
from pathlib import Path


def build_t2i_adapter(folder: Path, *, xl: bool = False, seed: int = 0, gain: float = 1.0,
                      in_channels: int = 3) -> Path:
    """A T2IAdapter saved with save_pretrained; ``gain`` scales its last weights (how
    strongly it pushes the UNet)."""
    import torch
    from diffusers import T2IAdapter

    torch.manual_seed(seed)
    adapter = T2IAdapter(in_channels=in_channels, channels=[16, 32], num_res_blocks=1,
                         downscale_factor=16 if xl else 8,
                         adapter_type="full_adapter_xl" if xl else "full_adapter")
    if gain != 1.0:
        with torch.no_grad():
            for block in adapter.adapter.body:
                for resnet in block.resnets:
                    resnet.block2.weight.mul_(gain)
    adapter.save_pretrained(folder)
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return folder


def adapter_file(folder: Path, path: Path, *, layout: str = "diffusers") -> Path:
    """The weights of the adapter in ``folder`` as one file: ``layout`` ``diffusers`` (its
    own keys), ``bare`` (without the ``adapter.`` prefix) or ``original`` (TencentARC's
    flat ``body.<block * resnets + resnet>`` keys; written as a pickle when ``path`` is not
    a .safetensors file)."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "diffusion_pytorch_model.safetensors"))
    if layout == "bare":
        state = {key.removeprefix("adapter."): value for key, value in state.items()}
    elif layout == "original":
        resnets = 1 + max(int(key.split(".")[4]) for key in state if ".resnets." in key)
        converted = {}
        for key, value in state.items():
            parts = key.removeprefix("adapter.").split(".")
            if parts[0] == "body" and parts[2] == "resnets":
                flat = int(parts[1]) * resnets + int(parts[3])
                converted[".".join(["body", str(flat), *parts[4:]])] = value
            elif parts[0] == "body" and parts[2] == "in_conv":
                converted[".".join(["body", str(int(parts[1]) * resnets), *parts[2:]])] = value
            else:
                converted[".".join(parts)] = value
        state = converted
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file({key: value.contiguous() for key, value in state.items()}, str(path))
    else:
        torch.save(state, path)
    os.chmod(path, 0o644)
    return path
