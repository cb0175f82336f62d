"""The program's version (the single source, read by pyproject.toml at build time) and the
version of the config-script language it implements."""

VERSION = "0.1.0"
DISTRIBUTION = "dgenerate"
#: dgenerate implements the config language of dgenerate 5.0.0: scripts written for any
#: 5.x run unchanged, and the configs dgenerate writes say they need this version.
LANGUAGE_VERSION = "5.0.0"


def dgenerate_version() -> str:
    return VERSION
