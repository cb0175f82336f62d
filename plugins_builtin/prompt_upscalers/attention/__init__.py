"""The ``attention`` prompt upscaler: random attention weights on noun chunks (spaCy)."""
