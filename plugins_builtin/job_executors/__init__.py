"""Builtin job executors (``--job-executor``)."""
