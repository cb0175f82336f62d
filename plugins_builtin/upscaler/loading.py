"""Finding an upscaler model file and turning it into a spandrel model descriptor.

Files are recognised by their content, not their extension (downloads do not
always keep one): a safetensors header, a PyTorch zip archive or a legacy
PyTorch pickle. Pickles are read with ``torch.load(weights_only=True)``, which
rebuilds tensors and plain containers only and refuses any other Python object,
so a model file cannot run code while it loads. TorchScript archives are
refused for the same reason. spandrel then detects the architecture from the
state dict's keys and shapes.
"""

from __future__ import annotations

import os
import re
import urllib.parse
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import spandrel
import torch

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.diffusion.sources import resolve_model

__all__ = ["DTYPES", "convert_dtype", "load_descriptor", "locate_model"]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

_HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
_ZIP_MAGIC = b"PK\x03\x04"
# torch words it "Unsupported global: GLOBAL a.b was not an allowed global" or
# "unsupported GLOBAL a.b whose module a is blocked", depending on the case
_UNSUPPORTED_GLOBAL = re.compile(r"unsupported global:?(?: GLOBAL)? ([\w.]+)", re.IGNORECASE)


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def locate_model(model: str, *, fetch: Callable[[str], str] | None, offline: bool) -> str:
    """The local path of ``model``: a file on disk, a URL downloaded into the web cache
    (``fetch``), or a Hugging Face file link downloaded into the Hugging Face cache."""
    if _is_url(model):
        host = (urllib.parse.urlparse(model).hostname or "").lower()
        if host in _HUB_HOSTS:
            # blob/resolve links go to the Hugging Face cache, the way model types do it
            return resolve_model(model, fetch=_require(fetch, model), token=None,
                                 offline=offline).location
        return _require(fetch, model)(model)
    path = os.path.expanduser(model)
    if os.path.isdir(path):
        raise DgenerateError(
            f"upscaler: the model {model!r} is a folder; give a model file (.pth, .pt, .ckpt, "
            ".safetensors), a URL or a Hugging Face file link")
    if not os.path.isfile(path):
        raise DgenerateError(
            f"upscaler: the model file {model!r} does not exist (give a file path, an http(s) "
            "URL or a Hugging Face link https://huggingface.co/OWNER/NAME/blob/REVISION/FILE)")
    return path


def _require(fetch: Callable[[str], str] | None, url: str) -> Callable[[str], str]:
    if fetch is not None:
        return fetch

    def unavailable(_: str) -> str:
        raise DgenerateError(
            f"upscaler: cannot download {url!r}: this upscaler was created without the "
            "kernel's context, which provides the web cache")

    return unavailable


def _file_format(path: str) -> str | None:
    """``safetensors``, ``zip`` (torch.save), ``pickle`` (legacy torch.save) or None."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        head = file.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        header_length = int.from_bytes(head[:8], "little")
        if 0 < header_length <= size - 8:
            return "safetensors"
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    return None


def _is_torchscript(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in names)


def _read_state_dict(path: str, shown: str) -> Mapping[str, Any]:
    kind = _file_format(path)
    if kind is None:
        raise DgenerateError(
            f"upscaler: spandrel cannot identify {shown!r}: it is neither a safetensors file "
            "nor a PyTorch checkpoint (.pth, .pt, .ckpt)")
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise DgenerateError(
                f"upscaler: the safetensors file {shown!r} cannot be read: "
                f"{' '.join(str(error).split())}") from None
    if kind == "zip" and _is_torchscript(path):
        raise DgenerateError(
            f"upscaler: {shown!r} is a TorchScript archive; TorchScript is not loaded because "
            "it contains code. Use the model's state dict (.pth or .safetensors) instead")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError ... from torch
        found = _UNSUPPORTED_GLOBAL.search(str(error))
        if found or "weights only load failed" in str(error).lower():
            what = f"the Python object {found.group(1)!r}" if found else "Python objects"
            raise DgenerateError(
                f"upscaler: {shown!r} holds {what}, not only tensors; it is refused because "
                "unpickling it could run code. A safetensors copy of the model, or its bare "
                "state dict, loads") from None
        reason = " ".join(str(error).split()[:40]) or type(error).__name__
        raise DgenerateError(
            f"upscaler: spandrel cannot identify {shown!r}: it looks like a PyTorch checkpoint "
            f"but cannot be read ({reason})") from None
    if not isinstance(state, Mapping):
        raise DgenerateError(
            f"upscaler: spandrel cannot identify {shown!r}: it holds a "
            f"{type(state).__name__}, not a state dict of model weights")
    return state


def load_descriptor(path: str, *, shown: str | None = None) -> Any:
    """The spandrel :class:`~spandrel.ImageModelDescriptor` of the file ``path`` (on the
    CPU, float32, in eval mode); ``shown`` names the model in error messages."""
    shown = shown or path
    state = _read_state_dict(path, shown)
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(dict(state))
    except spandrel.UnsupportedModelError:
        raise DgenerateError(
            f"upscaler: spandrel cannot identify the model architecture of {shown!r}; "
            "supported models are the chaiNNer-compatible ones spandrel "
            f"{spandrel.__version__} knows (ESRGAN, RealESRGAN Compact, SwinIR, HAT, SPAN, "
            "DAT, OmniSR ...)") from None
    except Exception as error:  # a recognised architecture whose weights do not fit
        raise DgenerateError(
            f"upscaler: spandrel cannot load {shown!r}: "
            f"{type(error).__name__}: {' '.join(str(error).split()[:40])}") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise DgenerateError(
            f"upscaler: {shown!r} is a {descriptor.architecture.name} model for "
            f"{descriptor.purpose.lower()}, which needs a mask as well as an image; the "
            "upscaler runs image-to-image models only")
    for what, channels in (("input", descriptor.input_channels),
                           ("output", descriptor.output_channels)):
        if channels not in (1, 3, 4):
            raise DgenerateError(
                f"upscaler: {shown!r} has {channels} {what} channels; only models with 1 "
                "(grayscale), 3 (RGB) or 4 (RGBA) channels can process images")
    descriptor.eval()
    return descriptor


def convert_dtype(descriptor: Any, dtype: str, shown: str) -> None:
    """Cast the model's weights to ``dtype`` (a key of :data:`DTYPES`), in place."""
    if dtype == "float16" and not descriptor.supports_half:
        raise DgenerateError(
            f"upscaler: dtype=float16 is not supported by the {descriptor.architecture.name} "
            f"model {shown!r}; use float32 or bfloat16"
            + ("" if descriptor.supports_bfloat16 else " (bfloat16 is not supported either)"))
    if dtype == "bfloat16" and not descriptor.supports_bfloat16:
        raise DgenerateError(
            f"upscaler: dtype=bfloat16 is not supported by the "
            f"{descriptor.architecture.name} model {shown!r}; use float32"
            + (" or float16" if descriptor.supports_half else ""))
    descriptor.to(DTYPES[dtype])
