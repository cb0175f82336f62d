"""Creating plugin objects from URIs: parse, look up, bind arguments, instantiate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.plugin_api.specs import PluginSpec

from ..uri import bind_arguments, parse_uri
from .registry import Registry
from .targets import blamed, remember, resolve_target, spec_arguments

__all__ = ["bind_uri", "create_from_uri", "owner_label"]


def owner_label(spec: PluginSpec) -> str:
    """``image processor 'flip'`` - how messages name a plugin feature."""
    return f"{spec.category.singular} {spec.name!r}"


def bind_uri(registry: Registry[Any], uri: str,
             supplied: Mapping[str, Any] | None = None) -> tuple[PluginSpec, dict[str, Any]]:
    """The plugin a URI names and its converted arguments, without creating it: checks the
    name, the argument names, types and required arguments (what a dry run can check
    without loading anything a plugin's constructor would load)."""
    parsed = parse_uri(uri)
    spec = registry.get(parsed.name)
    arguments = bind_arguments(parsed, spec_arguments(spec), owner=owner_label(spec),
                               supplied=supplied)
    return spec, arguments


def create_from_uri(registry: Registry[Any], uri: str,
                    supplied: Mapping[str, Any] | None = None) -> Any:
    """Create the object a URI such as ``"resize;size=512"`` describes.

    ``supplied`` fills arguments the plugin declares but the URI leaves out
    (``device`` from ``--device`` ...). Errors in the plugin's constructor that
    are not :class:`DgenerateError` are reported as a failure of that plugin.
    """
    spec, arguments = bind_uri(registry, uri, supplied)
    target = resolve_target(spec)
    with blamed(spec, f"could not be created from {uri!r}"):
        return remember(target(**arguments), spec)
