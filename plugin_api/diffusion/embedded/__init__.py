"""Models shipped inside the dgenerate package, named ``embedded:<name>`` on the command line.

Package data plus the lookup the toolkit's source resolution uses, so every
family built on the toolkit can load them. Each model is an ordinary diffusers
folder, so everything that loads a folder loads it; ``tools/embedded_model/``
is the script that trained it.
"""

from __future__ import annotations

import os

from ...errors import DgenerateError

__all__ = ["DEFAULT", "PREFIX", "embedded_model_folder", "embedded_model_names",
           "is_embedded_name"]

PREFIX = "embedded:"
DEFAULT = "embedded:shapes"
_HERE = os.path.dirname(os.path.abspath(__file__))


def embedded_model_names() -> list[str]:
    """Every shipped model, as the name to give on the command line."""
    return sorted(PREFIX + entry for entry in os.listdir(_HERE)
                  if os.path.isfile(os.path.join(_HERE, entry, "model_index.json")))


def is_embedded_name(path: str) -> bool:
    return path.startswith(PREFIX)


def embedded_model_folder(path: str) -> str:
    """The folder of ``embedded:<name>``; a clear error for a name that is not shipped."""
    name = path[len(PREFIX):]
    folder = os.path.join(_HERE, name)
    if name and os.sep not in name and "/" not in name and os.path.isfile(
            os.path.join(folder, "model_index.json")):
        return folder
    available = ", ".join(embedded_model_names()) or "none"
    raise DgenerateError(f"there is no embedded model {path!r}; the embedded models are: "
                         f"{available}")
