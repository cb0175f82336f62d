"""Kolors (``--model-type kolors``)."""
