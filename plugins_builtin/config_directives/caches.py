"""Directives for the in-memory model caches."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext


def clear_object_cache(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\clear_object_cache [NAME...]

    Drop every cached model object, or only those of the named caches
    (pipeline, unet, vae, text_encoder ...; see \\list_object_caches). Models
    used again afterwards are loaded from scratch.
    """
    context.clear_caches(list(args))


def list_object_caches(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\list_object_caches

    Print the names of the in-memory object caches.
    """
    for name in context.cache_names():
        print(name)


def clear_device_cache(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\clear_device_cache DEVICE...

    Return memory that torch keeps cached on GPU devices (cuda, cuda:1, xpu ...)
    to the driver. The CPU has no such cache.
    """
    if not args:
        raise DgenerateError("\\clear_device_cache: usage is \\clear_device_cache DEVICE...")
    import torch

    for device in args:
        kind, _, index = device.partition(":")
        if kind == "cpu":
            continue
        if kind == "cuda" and torch.cuda.is_available():
            with torch.cuda.device(int(index or 0)):
                torch.cuda.empty_cache()
        elif kind == "xpu" and hasattr(torch, "xpu") and torch.xpu.is_available():
            torch.xpu.empty_cache()
        elif kind == "mps" and torch.backends.mps.is_available():
            torch.mps.empty_cache()
        else:
            raise DgenerateError(f"\\clear_device_cache: no {device!r} device is available")
