"""The ``ray`` job executor: the jobs of an invocation on a Ray cluster (optional extra)."""
