"""Declaring the arguments a plugin accepts in its URI.

Most plugins declare nothing explicitly: the kernel reads the keyword parameters
of the target's constructor (or of the function, for function targets), with
their type hints and defaults. ``output_file: str | None = None`` becomes the URI
argument ``output-file``, shown in help as ``output-file: str | None = None``.

Extra information goes into :class:`typing.Annotated`::

    def __init__(self, *, size: Annotated[Size, Arg(help="target size")],
                 _cache: Annotated[dict, Arg(hidden=True)] = None): ...

Hidden arguments are never shown in help and cannot be set from a URI; the
kernel supplies them (for example ``device`` from ``--device``) when it creates
the plugin. Parameters whose name starts with ``_`` are not arguments at all.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Union

__all__ = [
    "REQUIRED",
    "Arg",
    "ArgSpec",
    "arguments_of",
    "format_default",
    "format_type",
    "python_name",
    "uri_name",
]


class _Required(enum.Enum):
    """Sentinel type: an argument without a default must be given."""

    REQUIRED = "REQUIRED"

    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of an argument that has none and must be given.
REQUIRED = _Required.REQUIRED


def uri_name(name: str) -> str:
    """The spelling users type in URIs and see in help: ``output_file`` -> ``output-file``."""
    return name.replace("_", "-")


def python_name(name: str) -> str:
    """The parameter name for a URI argument: ``output-file`` -> ``output_file``."""
    return name.replace("-", "_")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Arg:
    """Metadata for one argument, placed in ``Annotated[type, Arg(...)]``."""

    help: str = ""
    hidden: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArgSpec:
    """One argument a plugin accepts.

    ``name`` is the Python parameter name (``output_file``); users write
    :attr:`uri_name` (``output-file``) and both spellings are accepted in URIs.
    ``type`` is a type annotation: ``str``, ``int``, ``float``, ``bool``,
    ``X | None``, unions, ``list[X]``, ``tuple[X, ...]``, ``dict[K, V]``,
    ``Literal[...]``, enums, or any class with a ``from_uri_value(text)``
    classmethod (such as :class:`~dgenerate.plugin_api.values.Size`).
    """

    name: str
    type: Any = str
    default: Any = REQUIRED
    help: str = ""
    hidden: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"argument name {self.name!r} is not a Python identifier")

    @property
    def uri_name(self) -> str:
        return uri_name(self.name)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """``name: type = default``, the line shown in plugin help."""
        text = f"{self.uri_name}: {format_type(self.type)}"
        if not self.required:
            text += f" = {format_default(self.default)}"
        return text


def _unwrap_annotated(annotation: Any) -> tuple[Any, Arg | None]:
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        meta = next((extra for extra in extras if isinstance(extra, Arg)), None)
        return base, meta
    return annotation, None


def _parameters_of(function: Callable[..., Any]) -> Iterable[tuple[inspect.Parameter, Any]]:
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    signature = inspect.signature(function)
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY:
            continue
        annotation = hints.get(parameter.name, parameter.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = Any
        yield parameter, annotation


def _argspec(parameter: inspect.Parameter, annotation: Any) -> ArgSpec:
    base, meta = _unwrap_annotated(annotation)
    default = REQUIRED if parameter.default is inspect.Parameter.empty else parameter.default
    return ArgSpec(
        name=parameter.name,
        type=base,
        default=default,
        help=meta.help if meta else "",
        hidden=meta.hidden if meta else False,
    )


def arguments_of(target: Any, *, skip: Iterable[str] = ()) -> tuple[ArgSpec, ...]:
    """Read the arguments a class or function accepts from its signature.

    For a class, every ``__init__`` along the method resolution order is read,
    so arguments of base classes (``output_file`` of every image processor)
    follow the subclass's own; the first definition of a name wins. ``self``,
    ``*args``, ``**kwargs``, positional-only parameters, names in ``skip`` and
    names starting with ``_`` are left out.
    """
    skipped = set(skip)
    functions: list[Callable[..., Any]]
    if inspect.isclass(target):
        functions = [
            klass.__dict__["__init__"]
            for klass in target.__mro__
            if klass is not object and "__init__" in klass.__dict__
        ]
    else:
        functions = [target]

    found: dict[str, ArgSpec] = {}
    for function in functions:
        for position, (parameter, annotation) in enumerate(_parameters_of(function)):
            name = parameter.name
            if position == 0 and name in ("self", "cls"):
                continue
            if name.startswith("_") or name in skipped or name in found:
                continue
            found[name] = _argspec(parameter, annotation)
    return tuple(found.values())


def format_type(annotation: Any) -> str:
    """Render a type annotation the way plugin help shows it: ``int | None``, ``list[float]``."""
    annotation, _ = _unwrap_annotated(annotation)
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any:
        return "any"
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, typing.ForwardRef):
        return annotation.__forward_arg__
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(format_type(argument) for argument in arguments)
    if origin is Literal:
        return " | ".join(format_default(argument) for argument in arguments)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if not arguments:
            return name
        inner = ", ".join("..." if argument is Ellipsis else format_type(argument)
                          for argument in arguments)
        return f"{name}[{inner}]"
    if inspect.isclass(annotation):
        return annotation.__name__
    return str(annotation)


def format_default(value: Any) -> str:
    """Render a default value for help: strings in double quotes, the rest as Python."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, enum.Enum):
        return format_default(value.value)
    return repr(value)
