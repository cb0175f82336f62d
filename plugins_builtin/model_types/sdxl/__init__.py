"""Stable Diffusion XL (``--model-type sdxl``, with ``--sdxl-refiner``) and SDXL
InstructPix2Pix (``--model-type sdxl-pix2pix``)."""
