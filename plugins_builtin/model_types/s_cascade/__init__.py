"""Stable Cascade (``--model-type s-cascade``): a prior pipeline and ``--s-cascade-decoder``."""
