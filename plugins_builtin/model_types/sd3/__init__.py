"""Stable Diffusion 3 and 3.5 (``--model-type sd3``)."""
