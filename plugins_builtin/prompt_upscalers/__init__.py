"""Built-in prompt upscalers (``--prompt-upscaler``, ``<upscaler: URI>``)."""
