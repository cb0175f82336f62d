"""The diffusion toolkit: what every diffusers model family needs, public.

* :mod:`.sources` - where a model is (folder, hub slug, blob link, URL, single file);
* :mod:`.loading` - loading a pipeline with clear errors, variants, offline mode,
  single files and quantization;
* :mod:`.components` - one component from a URI by itself (the UNet of ``--unet``);
* :mod:`.schedulers`, :mod:`.sigmas` - scheduler URIs and custom sigma schedules;
* :mod:`.devices` - devices and dtypes;
* :mod:`.model_type` - :class:`DiffusersModelType`, a model type from a table of
  pipeline classes, doing the render phases;
* :mod:`.options` - options several families share (``--clip-skips`` ...), light
  enough for registration modules.

Importing this package is cheap: its names load on first use, and torch and
diffusers load when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MODEL_FILE_SUFFIXES", "DiffusersModelType", "ResolvedModel", "pipeline_class",
           "resolve_model"]

_HOMES = {"DiffusersModelType": ".model_type", "pipeline_class": ".model_type",
          "MODEL_FILE_SUFFIXES": ".sources", "ResolvedModel": ".sources",
          "resolve_model": ".sources"}


def __getattr__(name: str) -> Any:
    # registration modules import .options at start-up; the rest loads when used
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name], __name__), name)
