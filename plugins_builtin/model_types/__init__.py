"""Builtin model types: one folder (one plugin) per model family."""
