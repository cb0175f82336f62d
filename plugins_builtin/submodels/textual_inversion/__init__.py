"""Textual inversions (embeddings): new prompt words learned for a model's text encoders."""
