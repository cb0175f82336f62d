"""The version of the plugin API, separate from the program's version.

A plugin states the API version it was written against in its registration
module, ``DGENERATE_API_VERSION = "0.3"``; dgenerate loads it when the major
numbers are equal and the plugin's minor number is at most this one, and
otherwise refuses it with a message naming both versions. It follows semantic
versioning: while the major number is 0, interfaces marked *provisional* in
their docstrings may still change between minor versions.
"""

# 0.2: atomic_new_file, WriteError, warn(), MAX_IMAGE_SIDE
# 0.3: OptionSpec, the render phases (pipeline extensions, prompt weighters, quantizers, job
#      executors), DGENERATE_API_VERSION checked at load
API_VERSION: tuple[int, int] = (0, 3)
API_VERSION_STRING: str = ".".join(map(str, API_VERSION))
