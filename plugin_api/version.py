"""The version of the plugin API, separate from the program's version.

Plugins may check it to refuse a host they were not written for. It follows
semantic versioning: while the major number is 0, interfaces marked *provisional*
in their docstrings may still change between minor versions.
"""

API_VERSION: tuple[int, int] = (0, 2)  # 0.2: atomic_new_file, WriteError, warn(), MAX_IMAGE_SIDE
API_VERSION_STRING: str = ".".join(map(str, API_VERSION))
