"""Creating plugin objects from URIs: parse, look up, bind arguments, instantiate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, PluginError
from dgenerate.plugin_api.specs import PluginSpec

from ..uri import bind_arguments, parse_uri
from .registry import Registry
from .targets import resolve_target, spec_arguments

__all__ = ["create_from_uri", "owner_label"]


def owner_label(spec: PluginSpec) -> str:
    """``image processor 'flip'`` - how messages name a plugin feature."""
    return f"{spec.category.singular} {spec.name!r}"


def create_from_uri(registry: Registry[Any], uri: str,
                    supplied: Mapping[str, Any] | None = None) -> Any:
    """Create the object a URI such as ``"resize;size=512"`` describes.

    ``supplied`` fills arguments the plugin declares but the URI leaves out
    (``device`` from ``--device`` ...). Errors in the plugin's constructor that
    are not :class:`DgenerateError` are reported as a failure of that plugin.
    """
    parsed = parse_uri(uri)
    spec = registry.get(parsed.name)
    target = resolve_target(spec)
    owner = owner_label(spec)
    arguments = bind_arguments(parsed, spec_arguments(spec), owner=owner, supplied=supplied)
    try:
        return target(**arguments)
    except DgenerateError:
        raise
    except Exception as error:
        raise PluginError(
            f"{owner} could not be created from {uri!r}: {type(error).__name__}: {error}"
        ) from error
