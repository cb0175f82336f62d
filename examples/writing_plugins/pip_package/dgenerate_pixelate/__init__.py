"""A dgenerate plugin package: the pixelate image processor."""
