"""Builtin pipeline extensions: one folder (one plugin) per extension."""
