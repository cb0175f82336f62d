"""The builtin latents processors: ``scale``, ``noise`` and ``interposer``."""
