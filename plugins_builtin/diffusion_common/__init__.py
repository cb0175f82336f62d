"""Shared by the builtin model types that run diffusers pipelines.

Not a plugin itself (it has no entry point): a library the model-type plugins
import. It may import torch and diffusers; only model-type implementation
modules import it.
"""
