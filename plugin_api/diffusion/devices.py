"""Choosing and checking the device and dtype."""

from __future__ import annotations

from typing import Any

from ..errors import DgenerateError

__all__ = ["resolve_device", "resolve_dtype"]

_DTYPES = ("float16", "bfloat16", "float32")


def _xpu_available() -> bool:
    import torch

    return bool(getattr(torch, "xpu", None)) and torch.xpu.is_available()


def resolve_device(requested: str, *, what: str = "--device ") -> str:
    """``auto`` becomes cuda, xpu, mps or cpu, whichever is present first; an explicit
    device must exist. ``what`` starts error messages (the option or argument)."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _xpu_available():
            return "xpu"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind, _, index = requested.partition(":")
    available = {
        "cpu": lambda: True,
        "cuda": torch.cuda.is_available,
        "xpu": _xpu_available,
        "mps": torch.backends.mps.is_available,
    }[kind]
    if not available():
        raise DgenerateError(f"{what}{requested}: no {kind} device is available here")
    if index:
        count = (torch.cuda.device_count() if kind == "cuda" else torch.xpu.device_count())
        if int(index) >= count:
            raise DgenerateError(f"{what}{requested}: there are only {count} {kind} devices "
                                 f"(numbered from 0)")
    return requested


def resolve_dtype(requested: str, device: str) -> Any:
    """The ``torch.dtype`` of ``--dtype``: ``auto`` is float32 on the CPU and float16 on
    accelerators."""
    import torch

    if requested == "auto":
        return torch.float32 if device == "cpu" else torch.float16
    if requested not in _DTYPES:
        raise DgenerateError(f"--dtype {requested}: use auto, {', '.join(_DTYPES)}")
    return getattr(torch, requested)
