"""``--control-nets`` URIs: their arguments, union control modes and the checks made before
anything loads (no torch here)."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

from dgenerate.plugin_api import ArgSpec, DgenerateError
from dgenerate.plugin_api.diffusion.sources import MODEL_FILE_SUFFIXES

__all__ = ["ARGUMENTS", "FILE_ARGUMENTS", "OPTION", "UNION_MODES", "ControlNetUri",
           "check_union_group", "mode_number", "parse_controlnet_uri"]

OPTION = "--control-nets"

ARGUMENTS = (
    ArgSpec(name="scale", type=float, default=1.0,
            help="how strongly the ControlNet guides the model (0 turns it off)"),
    ArgSpec(name="start", type=float, default=0.0,
            help="the fraction of the steps after which its guidance begins"),
    ArgSpec(name="end", type=float, default=1.0,
            help="the fraction of the steps after which its guidance ends"),
    ArgSpec(name="mode", type=str | None, default=None,
            help="the control mode of a union ControlNet (sdxl, flux): a name or a number"),
    ArgSpec(name="revision", type=str | None, default=None,
            help="the branch, tag or commit of a Hugging Face repository (default main)"),
    ArgSpec(name="variant", type=str | None, default=None,
            help="the weights variant (diffusion_pytorch_model.<variant>.safetensors); "
                 "it does not follow --variant"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the ControlNet's folder inside the repository or folder"),
    ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
            default=None, help="the ControlNet's precision (default: the model's --dtype)"),
    ArgSpec(name="quantizer", type=str | None, default=None,
            help="a --quantizer URI quantizing this ControlNet while it loads"),
)
#: what a single weights file takes: it has no repository, subfolders or variants, is never
#: a union model, and cannot be quantized while it loads
FILE_ARGUMENTS = ("scale", "start", "end", "dtype")

#: the names of the control modes of union ControlNets, per model type (numbers work with
#: any model type; names where the model type has a table)
UNION_MODES: Mapping[str, Mapping[str, int]] = {
    "sdxl": {"openpose": 0, "depth": 1, "hed": 2, "pidi": 2, "scribble": 2, "ted": 2,
             "canny": 3, "lineart": 3, "anime_lineart": 3, "mlsd": 3, "normal": 4,
             "segment": 5},
    # InstantX/FLUX.1-dev-Controlnet-Union
    "flux": {"canny": 0, "tile": 1, "depth": 2, "blur": 3, "pose": 4, "gray": 5, "lq": 6},
}


@dataclasses.dataclass(frozen=True)
class ControlNetUri:
    """One parsed ``--control-nets`` URI (``text`` as the user wrote it)."""

    text: str
    path: str
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0
    mode: str | None = None
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None
    quantizer: str | None = None
    #: the arguments written in the URI
    given: frozenset[str] = frozenset()

    @property
    def what(self) -> str:
        """How messages name it: ``--control-nets 'path;scale=0.5'``."""
        return f"{OPTION} {self.text!r}"

    @property
    def is_url(self) -> bool:
        return self.path.lower().startswith(("http://", "https://"))

    @property
    def is_single_file(self) -> bool:
        """Whether PATH is one weights file (told without downloading anything)."""
        if self.is_url:
            return True
        local = os.path.expanduser(self.path)
        if os.path.isdir(local):
            return False
        return os.path.isfile(local) or local.lower().endswith(MODEL_FILE_SUFFIXES)

    @property
    def union(self) -> bool:
        """A control mode is given: the URI names a union ControlNet."""
        return self.mode is not None

    @property
    def where(self) -> str:
        """PATH as an absolute path when it is on disk (the same folder written two ways
        is one model)."""
        local = os.path.expanduser(self.path)
        return os.path.abspath(local) if not self.is_url and os.path.exists(local) else self.path

    def model_key(self) -> Hashable:
        """What the loaded model depends on from this URI (not scale, start, end, mode)."""
        return ("controlnet", self.where, self.revision or "main", self.variant,
                self.subfolder, self.dtype, self.quantizer)


def parse_controlnet_uri(text: str, context: Any) -> ControlNetUri:
    """Split and bind the arguments of one URI and check what can be checked without
    looking at any file: numbers in range, what a single file takes."""
    try:
        path, arguments = context.parse_uri(text, ARGUMENTS, owner=OPTION)
    except DgenerateError as error:
        message = str(error)
        if OPTION in message:
            raise DgenerateError(f"{message} (in {OPTION} {text!r})") from None
        raise DgenerateError(f"{OPTION} {text!r}: {message}") from None
    mode = arguments.get("mode")
    if mode is not None:
        arguments["mode"] = mode.strip().lower()
    uri = ControlNetUri(text=text, path=path.strip(), given=frozenset(arguments), **arguments)
    if not uri.path:
        raise DgenerateError(f"{uri.what} names no ControlNet: it starts with the ControlNet's "
                             "path (a Hugging Face repository id, a folder, a file or a URL)")
    for name in ("start", "end"):
        value = getattr(uri, name)
        if not 0.0 <= value <= 1.0:
            raise DgenerateError(f"{uri.what}: {name}={value:g} is not a fraction of the steps "
                                 "between 0.0 and 1.0")
    if uri.start >= uri.end:
        raise DgenerateError(f"{uri.what}: start={uri.start:g} must be below end={uri.end:g} "
                             "(the guidance runs from start to end)")
    if uri.mode is not None and not uri.mode:
        raise DgenerateError(f"{uri.what}: mode= is empty; give a control mode name or number")
    if uri.is_single_file:
        refused = sorted(uri.given - set(FILE_ARGUMENTS))
        if refused:
            raise DgenerateError(
                f"{uri.what}: {uri.path!r} is a single file, which takes only the arguments "
                f"{', '.join(FILE_ARGUMENTS)}; not {', '.join(refused)}"
                + (" (a union ControlNet with control modes loads from a folder or a "
                   "Hugging Face repository)" if "mode" in refused else ""))
    return uri


def mode_number(uri: ControlNetUri, model_type: str | None) -> int:
    """The control mode number of a union URI: a number as written, or the number of a mode
    name in the model type's table."""
    assert uri.mode is not None
    if uri.mode.isdigit():
        return int(uri.mode)
    if uri.mode.startswith("-") and uri.mode[1:].isdigit():
        raise DgenerateError(f"{uri.what}: mode={uri.mode} is negative; control modes count "
                             "from 0")
    names = UNION_MODES.get(model_type or "")
    if names is None:
        first, *others = UNION_MODES
        also = "".join(f" (names are also known for --model-type {name})" for name in others)
        raise DgenerateError(
            f"{uri.what}: mode={uri.mode}: control mode names are known for --model-type "
            f"{first}, not --model-type {model_type}; give the mode as a number{also}")
    if uri.mode not in names:
        close = difflib.get_close_matches(uri.mode, list(names), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(f"{name} ({number})" for name, number in names.items())
        raise DgenerateError(f"{uri.what}: unknown control mode {uri.mode!r}{hint} The modes "
                             f"of {model_type} union ControlNets are: {listed}; or a number")
    return names[uri.mode]


def check_union_group(uris: Sequence[ControlNetUri]) -> None:
    """Several union URIs are modes of one ControlNet: the same model written the same way,
    only mode and scale differing. A union URI is not mixed with plain ControlNets."""
    unions = [uri for uri in uris if uri.union]
    if not unions:
        return
    first = unions[0]
    for uri in uris:
        if not uri.union:
            raise DgenerateError(
                f"{uri.what} gives no mode while {first.what} does: the URIs of a union "
                "ControlNet each give a control mode (mode=), and a union ControlNet is not "
                "used together with other ControlNets")
        if uri.model_key() != first.model_key():
            raise DgenerateError(
                f"{first.what} and {uri.what} are two modes of a union ControlNet but not the "
                "same model: give the same path, revision, variant, subfolder, dtype and "
                "quantizer in both (only mode and scale may differ; start and end come from "
                "the first)")
