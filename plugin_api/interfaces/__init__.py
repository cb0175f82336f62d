"""Base classes and protocols, one module per plugin category."""
