"""Builtin sub-model kinds (VAE, UNet, LoRA ...): one folder (one plugin) per kind."""
