"""Latents tensor files (``.pt``, ``.pth``, ``.safetensors``): what ``--image-format pt``
writes and what ``latents:`` and tensor image seeds read; plugins may read them too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError

__all__ = ["TENSOR_EXTENSIONS", "read_latents", "save_latents"]

TENSOR_EXTENSIONS = ("pt", "pth", "safetensors")
#: the key of the one tensor in the safetensors files written
_KEY = "latents"


def save_latents(latents: Any, path: Path, extension: str) -> None:
    """Write one latents tensor (channels, height, width) to ``path``."""
    tensor = latents.detach().to("cpu").contiguous()
    if extension == "safetensors":
        from safetensors.torch import save_file

        return save_file({_KEY: tensor}, str(path))
    import torch

    torch.save(tensor, str(path))


def read_latents(path: str) -> Any:
    """The latents tensor of a file, shaped (channels, height, width): a leading batch
    axis of 1 is dropped; a safetensors file holds one tensor (or one named latents)."""
    try:
        if path.lower().endswith(".safetensors"):
            from safetensors.torch import load_file

            tensors = load_file(path)
            tensor = tensors.get(_KEY, next(iter(tensors.values()), None))
        else:
            import torch

            tensor = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DgenerateError(f"the latents file {path!r} does not exist") from None
    except Exception as error:  # pickle, zip and safetensors header errors alike
        raise DgenerateError(f"the latents file {path!r} cannot be read as a tensor "
                             f"file: {error}") from None
    shape = list(getattr(tensor, "shape", ()))
    if not (len(shape) == 3 or (len(shape) == 4 and shape[0] == 1)):  # a batch of one: fine
        raise DgenerateError(f"the latents file {path!r} holds no tensor shaped (channels, "
                             f"height, width) but {shape or 'no tensor'}")
    return tensor if len(shape) == 3 else tensor[0]
