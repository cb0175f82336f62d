"""The ``dynamicprompts`` prompt upscaler: ``{a|b}`` variants and ``__wildcards__``."""
