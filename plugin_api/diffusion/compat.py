"""Work-arounds for incompatibilities between the installed library versions."""

from __future__ import annotations

from typing import Any

__all__ = ["patch_text_encoders"]


def patch_text_encoders(pipeline: Any) -> None:
    """Give transformers 5 CLIP text encoders the ``text_model`` attribute diffusers expects.

    transformers 5 flattened ``CLIPTextModel`` (no ``text_model`` level), but the
    ``clip_skip`` path of diffusers' Stable Diffusion pipelines still calls
    ``text_encoder.text_model.final_layer_norm``. The model itself has that layer,
    so a plain attribute pointing to the model itself restores the old path. It is
    set with ``object.__setattr__`` so torch does not register the model as its
    own sub-module (which would make it recursive).
    """
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipeline, name, None)
        if encoder is None or hasattr(encoder, "text_model"):
            continue
        if hasattr(encoder, "final_layer_norm"):
            object.__setattr__(encoder, "text_model", encoder)
