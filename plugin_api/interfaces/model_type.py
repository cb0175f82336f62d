"""Base class of model types (provisional: settled together with the render loop)."""

from __future__ import annotations

__all__ = ["ModelType"]


class ModelType:
    """A family of diffusion models (``--model-type`` value).

    The kernel knows no model family by name: everything specific to one
    (which diffusers pipelines to load, which options apply, the default output
    size) lives in its model type plugin. The methods the render loop calls are
    defined when the render loop is built; until then model types can be listed
    but not run.
    """
