"""Built-in prompt weighters (``--prompt-weighter``)."""
