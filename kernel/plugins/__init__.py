"""Plugin discovery, loading, registries and the objects handed to plugins."""
