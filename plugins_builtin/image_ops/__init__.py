"""Simple Pillow image operations: flip, mirror, grayscale, invert."""
