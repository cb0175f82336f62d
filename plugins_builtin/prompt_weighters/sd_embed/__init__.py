"""The ``sd-embed`` prompt weighter: Stable Diffusion Web UI weighting syntax and prompts
longer than CLIP's 77-token window, for Stable Diffusion 1/2 and XL, Stable Cascade,
Stable Diffusion 3 and Flux."""
