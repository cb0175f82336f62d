"""The ``transformer`` sub-model kind: ``--transformer PATH`` gives an SD3 or Flux model
another diffusion transformer.

The transformer class is the one the model's pipeline takes (``SD3Transformer2DModel``
for sd3 models, ``FluxTransformer2DModel`` for flux ones): a transformer saved as
another class is refused by name rather than loaded into the wrong architecture.

A single weights file holds no configuration: it takes the one of the model's own
transformer (from the model's folder or repository, or the repository diffusers
matches a single-file model with) and its weights must fit it. The file may be in the
diffusers layout, or the original one (Stability's ``joint_blocks``, Black Forest
Labs' ``double_blocks``), by itself or inside a whole-model checkpoint (the keys under
``model.diffusion_model.`` or ``transformer.``). Loaded transformers are kept in the
``transformer`` object cache under their creation parameters, so one transformer given
to several models loads once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import typing
from collections.abc import Hashable, Mapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.components import (
    ComponentKind,
    ComponentUri,
    check_component_uri,
    component_arguments,
    component_key,
    load_component,
    main_component_config,
    parse_component_uri,
)
from dgenerate.plugin_api.diffusion.loading import first_paragraph

__all__ = ["ARGUMENTS", "TRANSFORMER", "Transformer", "TransformerUri",
           "parse_transformer_uri"]

ARGUMENTS = component_arguments(
    "transformer", revision="or blob link (default main)",
    subfolder="the transformer's folder in the repository or folder (transformer for a "
              "whole pipeline)")

OPTION = "--transformer"
#: the settings of a transformer's configuration the rest of the pipeline depends on
_INTERFACE = {
    "in_channels": "the latent channels it takes; Flux Fill and InstructPix2Pix transformers "
                   "take more",
    "out_channels": "the latent channels it predicts",
    "patch_size": "the size of the latent patches it reads",
    "joint_attention_dim": "the width of the text embeddings it attends to; a transformer of "
                           "another model family?",
    "pooled_projection_dim": "the width of the pooled text embedding it takes",
}


def _to_diffusers(cls: Any, state: dict[str, Any], config: Mapping[str, Any],
                  expected: Mapping[str, tuple[int, ...]], what: str, where: str,
                  target: LoadTarget) -> dict[str, Any]:
    """Original-layout weights (Stability's ``joint_blocks``, Black Forest Labs'
    ``double_blocks``) converted by diffusers' own mapping for ``cls`` (weights already in
    the diffusers layout are returned as they are)."""
    known = sum(key in expected for key in state)
    if known * 2 > len(state):  # (a few names, such as context_embedder, are in both)
        return state
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    mapping = SINGLE_FILE_LOADABLE_CLASSES.get(cls.__name__, {}).get("checkpoint_mapping_fn")
    if mapping is None:
        return state
    try:
        return mapping(config=dict(config), checkpoint=dict(state))
    except Exception as error:
        model = target.model
        named = f" {model.location!r}" if model is not None else ""
        raise DgenerateError(
            f"{what}: the weights of {where} are neither the diffusers nor the original layout "
            f"of the transformer of the {target.model_type} model{named} "
            f"({type(error).__name__}: {first_paragraph(error)})") from error


#: the transformer's kind of component: a single file is the transformer alone or a whole
#: model (its keys under ``model.diffusion_model.`` or ``transformer.``), takes a
#: quantizer, and a Hugging Face blob link takes a revision
TRANSFORMER = ComponentKind(
    word="transformer", folder="transformer", option=OPTION, arguments=ARGUMENTS,
    interface=_INTERFACE, prefixes=("model.diffusion_model.", "transformer."),
    convert=_to_diffusers, none_fits=True, file_quantizer=True, link_revision=True)


@dataclasses.dataclass(frozen=True)
class TransformerUri(ComponentUri):
    """A parsed ``--transformer`` URI (``text`` as the user wrote it)."""


def parse_transformer_uri(text: str, context: Any) -> TransformerUri:
    """Split and bind the arguments of a ``--transformer`` URI (nothing is loaded)."""
    return parse_component_uri(text, context, TRANSFORMER, uri_class=TransformerUri)


class Transformer(SubModel):
    """Another diffusion transformer: ``--transformer "PATH;ARGUMENT=VALUE..."``.

    PATH is a Hugging Face repository id, a diffusers folder (with the transformer's
    config.json), a single weights file, a Hugging Face blob link or a URL. Arguments:
    ``revision``, ``variant`` (default --variant; ``null`` for none), ``subfolder``,
    ``dtype`` (default --dtype) and ``quantizer`` (a --quantizer URI). A single file
    takes only ``dtype`` and ``quantizer`` (and ``revision`` for a blob link).
    """

    def uri(self, values: Mapping[str, Any]) -> TransformerUri | None:
        name = self.option_names[0] if self.option_names else "transformer_uri"
        text = values.get(name)
        return None if text is None else parse_transformer_uri(text, self.context)

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        uri = self.uri(values)
        if uri is not None:
            check_component_uri(uri, self.context, TRANSFORMER)

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        uri = self.uri(values)
        return None if uri is None else component_key(uri, TRANSFORMER)

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        uri = self.uri(values)
        if uri is None:
            return {}
        cls = transformer_class(target)
        if cls is None:
            raise DgenerateError(f"{uri.what}: the {target.model_type} model has no "
                                 "diffusion transformer to replace")
        return {"transformer": load_component(uri, self.context, target, TRANSFORMER, cls=cls,
                                              cache=self.slot or "transformer")}


def transformer_class(target: LoadTarget) -> Any:
    """The class the pipeline being loaded takes as its ``transformer`` (None when it takes
    none): from the pipeline's type hints, else from the model's own transformer config."""
    import diffusers

    pipeline = target.pipeline_class
    parameter = inspect.signature(pipeline.__init__).parameters.get("transformer")
    if parameter is None:
        return None
    hint: Any = None
    with contextlib.suppress(Exception):
        hint = typing.get_type_hints(pipeline.__init__).get("transformer")
    if hint is None or isinstance(hint, str):
        hint = parameter.annotation
    if isinstance(hint, str):
        hint = getattr(diffusers, hint.split(".")[-1], None)
    if isinstance(hint, type) and hasattr(hint, "from_pretrained"):
        return hint
    saved = (main_component_config(target, TRANSFORMER) or {}).get("_class_name")
    cls = getattr(diffusers, saved, None) if saved else None
    return cls if isinstance(cls, type) else None
