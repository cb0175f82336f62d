"""Stable Diffusion 1.x / 2.x (``--model-type sd``)."""
