"""Loading what the Stable Cascade pipelines take besides the model: the decoder's URI
arguments, its Paella VQ model class, and the prior's or decoder's UNet from ``--unet`` /
``--second-model-unet``.

The UNet sub-model kind loads ``UNet2DConditionModel``s found in a model's ``unet``
folder; Stable Cascade's UNets are ``StableCascadeUNet``s in ``prior`` / ``decoder``,
so this family loads them itself (same URI syntax, same object cache).
"""

from __future__ import annotations

import os
from typing import Any

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.diffusion.components import UNetUri, unet_key
from dgenerate.plugin_api.diffusion.devices import resolve_dtype
from dgenerate.plugin_api.diffusion.loading import first_paragraph, hub_offline, where_text
from dgenerate.plugin_api.diffusion.second_model import second_model_arguments
from dgenerate.plugin_api.diffusion.sources import ResolvedModel, resolve_model
from dgenerate.plugin_api.specs import Category

__all__ = ["DECODER_ARGUMENTS", "load_cascade_unet", "register_paella"]

#: the URI arguments of --s-cascade-decoder
DECODER_ARGUMENTS = second_model_arguments("decoder", variants="fp16, bf16 ...")


def register_paella() -> None:
    """Let diffusers find ``PaellaVQModel`` by the name decoder folders record.

    Decoder folders (the Hugging Face ones too) name their VQ model
    ``["diffusers", "PaellaVQModel"]`` in model_index.json, but diffusers 0.42 moved the
    class under ``pipelines.deprecated.wuerstchen`` and no longer exports it: loading
    fails unless the name resolves again.
    """
    import diffusers

    if not hasattr(diffusers, "PaellaVQModel"):
        from diffusers.pipelines.deprecated.wuerstchen.modeling_paella_vq_model import (
            PaellaVQModel,
        )

        diffusers.PaellaVQModel = PaellaVQModel


def load_cascade_unet(uri: UNetUri, context: Any, *, component: str, dtype: Any,
                      device: str, variant: str | None, token: str | None) -> Any:
    """The ``StableCascadeUNet`` of ``uri`` (``component`` is ``prior`` or ``decoder``,
    for messages), from the ``unet`` object cache. ``variant`` is the model's, used when
    the URI gives none; a model variant the UNet lacks falls back to its plain weights."""
    try:
        located = resolve_model(uri.path, fetch=context.fetch, token=token,
                                offline=context.offline_mode)
    except DgenerateError as error:
        raise DgenerateError(f"{uri.what}: {error}") from None
    if located.kind == "file":
        raise DgenerateError(
            f"{uri.what}: {uri.path!r} is a single file; Stable Cascade UNets load from a "
            f"diffusers folder or a Hugging Face repository (such as "
            f"\"stabilityai/stable-cascade-prior;subfolder={component}_lite\")")
    if uri.dtype:
        dtype = resolve_dtype(uri.dtype, device)
    wanted = None if uri.no_variant else (uri.variant or variant)
    key = ("cascade unet", component, *unet_key(uri)[1:], located.kind, wanted, str(dtype))

    def create() -> Any:
        context.debug(f"loading the {component} UNet of {uri.what} from "
                      f"{where_text(located, uri.revision)} ({dtype})")
        return _load(uri, located, context, dtype=dtype, device=device, variant=wanted,
                     token=token, explicit=uri.variant is not None)

    return context.cache("unet").get_or_create(key, create, size=_size(located, uri))


def _load(uri: UNetUri, located: ResolvedModel, context: Any, *, dtype: Any, device: str,
          variant: str | None, token: str | None, explicit: bool) -> Any:
    from diffusers import StableCascadeUNet

    options: dict[str, Any] = {"local_files_only": context.offline_mode, "torch_dtype": dtype}
    if uri.subfolder:
        options["subfolder"] = uri.subfolder
    if located.kind == "hub":
        options["revision"] = uri.revision or "main"
        if token:
            options["token"] = token
    else:
        folder = os.path.join(located.location, uri.subfolder or "")
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise DgenerateError(f"{uri.what}: {folder!r} is not a diffusers UNet folder (it "
                                 "has no config.json); a whole Stable Cascade model holds "
                                 "its UNet in subfolder=prior or subfolder=decoder")
    if uri.quantizer is not None:
        quantizer = context.create(Category.QUANTIZER, uri.quantizer, device=device)
        options["quantization_config"] = quantizer.diffusers_config()
    try:
        with hub_offline(context.offline_mode):
            try:
                unet = StableCascadeUNet.from_pretrained(located.location, variant=variant,
                                                         **options)
            except (OSError, ValueError):
                if variant is None or explicit:
                    raise
                # --variant given to the model, not to the UNet: plain weights will do
                unet = StableCascadeUNet.from_pretrained(located.location, **options)
    except Exception as error:
        raise DgenerateError(f"{uri.what}: cannot load a Stable Cascade UNet from "
                             f"{where_text(located, uri.revision)}: "
                             f"{first_paragraph(error)}") from error
    return unet.eval()


def _size(located: ResolvedModel, uri: UNetUri) -> int:
    if located.kind != "folder":
        return 0
    folder = os.path.join(located.location, uri.subfolder or "")
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)
               if name.endswith((".safetensors", ".bin")))

