"""IP adapters (``--ip-adapters``) and the image encoder they use (``--image-encoder``)."""
