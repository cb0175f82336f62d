"""The program's version: the single source, read by pyproject.toml at build time."""

VERSION = "0.1.0"
DISTRIBUTION = "dgenerate"


def dgenerate_version() -> str:
    return VERSION
