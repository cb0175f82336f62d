"""The ``translate`` prompt upscaler: prompts translated locally by argostranslate or by
the Helsinki-NLP opus-mt models (MarianMT, through transformers)."""
