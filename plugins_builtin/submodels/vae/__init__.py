"""The ``vae`` sub-model kind: ``--vae CLASS;model=...`` replaces a model's VAE."""
