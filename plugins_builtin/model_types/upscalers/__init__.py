"""The Stable Diffusion x2 and x4 upscalers (``--model-type upscaler-x2`` / ``upscaler-x4``)."""
