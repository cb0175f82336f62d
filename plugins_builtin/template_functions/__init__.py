"""The builtin config template functions (``quote``, ``format_size`` ...)."""
