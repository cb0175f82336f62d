"""The ``gpt4all`` prompt upscaler: prompts rewritten by a GGUF LLM through the gpt4all
bindings (the ``dgenerate[gpt4all]`` extra)."""
