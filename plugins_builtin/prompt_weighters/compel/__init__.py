"""The ``compel`` prompt weighter: weighted prompts through the compel library."""
