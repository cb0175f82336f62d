"""Animated and still media: reading frames lazily, writing animations atomically."""
