"""The ``llm4gen`` prompt weighter: RankGen T5 features fused with CLIP's (LLM4GEN)."""
