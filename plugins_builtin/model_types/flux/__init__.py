"""Flux (``--model-type flux``)."""
