"""The ``unet`` sub-model kind: ``--unet PATH`` gives a model another UNet.

The URI is parsed and checked before anything loads; the loading itself is the diffusion
toolkit's (:mod:`dgenerate.plugin_api.diffusion.components`), which the SDXL family's
``--second-model-unet`` uses too. Loaded UNets are kept in the ``unet`` object cache
under their creation parameters, so one UNet given to several models loads once.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from dgenerate.plugin_api import LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.components import (
    UNetUri,
    check_unet_uri,
    load_unet,
    parse_unet_uri,
    unet_key,
)

__all__ = ["UNet"]

class UNet(SubModel):
    """Another UNet for the model: ``--unet "PATH;ARGUMENT=VALUE..."``.

    PATH is a Hugging Face repository id, a diffusers folder (with the UNet's
    config.json), a single weights file, a Hugging Face blob link or a URL.
    Arguments: ``revision``, ``variant`` (default --variant; ``null`` for none),
    ``subfolder`` (in a whole-model file: the key prefix of its UNet, default
    ``unet``), ``dtype`` (default --dtype) and ``quantizer`` (a --quantizer URI).
    """

    def uri(self, values: Mapping[str, Any]) -> UNetUri | None:
        name = self.option_names[0] if self.option_names else "unet"
        text = values.get(name)
        return None if text is None else parse_unet_uri(text, self.context, option="--unet")

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        uri = self.uri(values)
        if uri is not None:
            check_unet_uri(uri, self.context)

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        uri = self.uri(values)
        return None if uri is None else unet_key(uri)

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        uri = self.uri(values)
        if uri is None:
            return {}
        # the cached UNet may be shared by several pipelines; a sub-model that changes
        # weights in place (fusing LoRAs) works on a copy (LoadTarget.shared says so)
        return {"unet": load_unet(uri, self.context, target, cache=self.slot or "unet",
                                  shared=True)}
