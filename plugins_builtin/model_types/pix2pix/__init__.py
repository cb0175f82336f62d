"""Stable Diffusion InstructPix2Pix (``--model-type pix2pix``)."""
