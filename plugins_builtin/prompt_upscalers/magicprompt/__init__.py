"""The ``magicprompt`` prompt upscaler: prompts rewritten by a causal LLM through
transformers."""
