"""The ``controlnet`` sub-model kind: ``--control-nets URI ...``.

Every URI is parsed and checked before anything loads. The ControlNets are not part of
the model's base pipeline: they ask for its ControlNet pipeline variant, which the
diffusion toolkit builds from the loaded base pipeline (sharing its weights) with the
ControlNets this kind supplies. Loaded ControlNets are kept in the ``controlnet`` object
cache under their creation parameters (not scale, start, end or mode, which are given to
each call), so one ControlNet given to several pipelines loads once.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, LoadTarget, Mode, SubModel

from .families import ControlNetClasses, classes_for, config_is_union, mode_count
from .uri import OPTION, ControlNetUri, check_union_group, mode_number, parse_controlnet_uri

__all__ = ["ControlNets"]


class ControlNets(SubModel):
    """ControlNets guiding the model: ``--control-nets "PATH;ARGUMENT=VALUE..." ...``.

    PATH is a Hugging Face repository id, a diffusers folder, a single weights file
    (.safetensors .ckpt .pt .pth .bin), a Hugging Face blob link or a URL. Each URI takes
    one control image from --image-seeds, in order: ``"control.png"`` or
    ``"a.png, b.png"`` in txt2img, ``"image.png;control=a.png"`` with an img2img image,
    ``"image.png;mask=mask.png;control=a.png"`` for inpainting.

    Arguments: ``scale`` (the strength of its guidance, default 1.0), ``start`` and ``end``
    (the fraction of the steps where its guidance begins and ends, default 0.0 and 1.0),
    ``mode`` (the control mode of a union ControlNet: a number, or with --model-type sdxl
    one of openpose, depth, hed, pidi, scribble, ted, canny, lineart, anime_lineart, mlsd,
    normal, segment; with --model-type flux one of canny, tile, depth, blur, pose, gray,
    lq), ``revision``, ``variant`` (it does not follow --variant),
    ``subfolder``, ``dtype`` (default: the model's --dtype) and ``quantizer`` (a
    --quantizer URI for this ControlNet alone). A single file takes only scale, start, end
    and dtype.

    Several URIs of one union ControlNet are its modes used together: they must name the
    same model the same way, only mode and scale differing; start and end come from the
    first. ControlNets and --t2i-adapters exclude each other.

    The ControlNet class follows the model type: ``ControlNetModel`` (or
    ``ControlNetUnionModel``) for the UNet families, ``SD3ControlNetModel`` for sd3 and
    ``FluxControlNetModel`` (a union one when its config has ``num_mode``) for flux.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parsed: dict[str, ControlNetUri] = {}
        self._configs: dict[str, dict[str, Any] | None] = {}
        self._modes: dict[str, int] = {}
        self._model_type: str | None = None

    # ------------------------------------------------------------------ values

    @property
    def option(self) -> str:
        return self.option_names[0] if self.option_names else "control_nets"

    def given(self, values: Mapping[str, Any]) -> bool:
        return bool(values.get(self.option))

    def uris(self, values: Mapping[str, Any]) -> list[ControlNetUri]:
        texts = values.get(self.option) or ()
        if isinstance(texts, str):
            texts = (texts,)
        found = []
        for text in texts:
            if text not in self._parsed:
                self._parsed[text] = parse_controlnet_uri(text, self.context)
            found.append(self._parsed[text])
        return found

    def saved_config(self, uri: ControlNetUri) -> dict[str, Any] | None:
        """Its config.json, when readable without loading (memoized)."""
        if uri.text not in self._configs:
            from .loading import saved_config

            self._configs[uri.text] = saved_config(uri, self.context)
        return self._configs[uri.text]

    def mode(self, uri: ControlNetUri, model_type: str | None = None) -> int:
        if uri.text not in self._modes:
            self._modes[uri.text] = mode_number(uri, model_type or self._model_type)
        return self._modes[uri.text]

    @staticmethod
    def is_union(uris: list[ControlNetUri]) -> bool:
        return any(uri.union for uri in uris)

    # ------------------------------------------------------------------ checks

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        uris = self.uris(values)
        if not uris:
            return
        self._model_type = model_type
        if values.get("t2i_adapters"):
            raise DgenerateError(f"{OPTION} and --t2i-adapters cannot be used together: both "
                                 "guide the model with the control images; choose one")
        check_union_group(uris)
        from .loading import check_folder, locate, quantizer

        classes = classes_for(model_type)
        if any(uri.union for uri in uris) and classes.union is None:
            raise DgenerateError(
                f"{uris[0].what}: mode= selects a control mode of a union ControlNet, and "
                f"--model-type {model_type} has no union ControlNets; leave mode out")
        for uri in uris:
            if uri.union:
                self.mode(uri, model_type)
            if uri.quantizer is not None:
                quantizer(uri, self.context, device=None)  # an unknown quantizer fails now
            if not uri.is_url:
                located = locate(uri, self.context, token=None)  # a missing one fails now
                if located.kind == "folder":
                    check_folder(uri, located.location)
            config = self.saved_config(uri)
            if config is None:
                continue
            saved = config.get("_class_name")
            if saved not in classes.names:
                raise DgenerateError(
                    f"{uri.what}: {uri.path!r} holds a model of the class {saved}, not a "
                    f"ControlNet of --model-type {model_type} ({classes.describe()})")
            union = config_is_union(config)
            if union and not uri.union:
                raise DgenerateError(_needs_mode(uri, model_type))
            if not union and uri.union:
                raise DgenerateError(_no_modes(uri, saved))

    def pipeline_variant(self, values: Mapping[str, Any]) -> str | None:
        uris = self.uris(values)
        if not uris:
            return None
        if self.is_union(uris) or any(config_is_union(self.saved_config(uri) or {})
                                      for uri in uris):
            return "controlnet_union"
        return "controlnet"

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        uris = self.uris(values)
        if self.is_union(uris):
            # one model, whatever its modes; several modes may wrap it (Flux)
            return ("union", uris[0].model_key(), len(uris) > 1)
        return tuple(uri.model_key() for uri in uris)

    # ---------------------------------------------------------------- loading

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        uris = self.uris(values)
        if not uris:
            return {}
        from .loading import load_controlnet

        classes = classes_for(target.model_type)
        cache = self.slot or "controlnet"
        if self.is_union(uris):
            model = load_controlnet(uris[0], self.context, target, cache=cache)
            limit = mode_count(model, classes)
            if limit is None:
                raise DgenerateError(_no_modes(uris[0], type(model).__name__))
            for uri in uris:
                number = self.mode(uri, target.model_type)
                if number >= limit:
                    raise DgenerateError(
                        f"{uri.what}: mode={uri.mode} is control mode {number}, and this union "
                        f"ControlNet has the modes 0 to {limit - 1}")
            if classes.union == classes.plain and len(uris) > 1:
                # Flux: several modes of one union ControlNet are its multi-ControlNet with
                # that one model, which runs it once per control image and mode
                return {"controlnet": _multi(classes, [model])}
            return {"controlnet": model}
        models = []
        for uri in uris:
            model = load_controlnet(uri, self.context, target, cache=cache)
            if mode_count(model, classes) is not None:
                raise DgenerateError(_needs_mode(uri, target.model_type))
            models.append(model)
        if len(models) == 1:
            return {"controlnet": models[0]}
        return {"controlnet": _multi(classes, models)}

    # ------------------------------------------------------------------- calls

    def call_arguments(self, job: Job, pipeline: Any,
                       values: Mapping[str, Any]) -> dict[str, Any]:
        import inspect

        uris = self.uris(values)
        if not uris:
            return {}
        images = list(job.control_images)
        if len(images) != len(uris):
            raise DgenerateError(
                f"{OPTION} gives {len(uris)} ControlNet(s) and --image-seeds "
                f"{len(images)} control image(s) for job {job.number}: give one control image "
                "per ControlNet")
        if self.is_union(uris) and _modes_in_config(pipeline):
            return _flux_union_arguments(uris, images, [self.mode(uri) for uri in uris])
        if self.is_union(uris):
            first = uris[0]
            # one union ControlNet: a control image and a scale per mode; start and end are
            # the first URI's, for the model as a whole
            return {"control_image": images,
                    "control_mode": [self.mode(uri) for uri in uris],
                    "controlnet_conditioning_scale": [uri.scale for uri in uris],
                    "control_guidance_start": first.start,
                    "control_guidance_end": first.end}
        accepted = inspect.signature(type(pipeline).__call__).parameters
        # txt2img ControlNet pipelines take the control image as `image`; those with an
        # img2img or inpainting image as `control_image`
        key = "control_image" if "control_image" in accepted or job.mode is not Mode.TXT2IMG \
            else "image"
        if len(uris) == 1:
            uri = uris[0]
            # one image: diffusers repeats it for every image of the batch
            return {key: images[0], "controlnet_conditioning_scale": uri.scale,
                    "control_guidance_start": uri.start, "control_guidance_end": uri.end}
        return {key: images,
                "controlnet_conditioning_scale": [uri.scale for uri in uris],
                "control_guidance_start": [uri.start for uri in uris],
                "control_guidance_end": [uri.end for uri in uris]}


def _needs_mode(uri: ControlNetUri, model_type: str | None) -> str:
    from .uri import UNION_MODES

    names = UNION_MODES.get(model_type or "")
    listed = f" ({', '.join(names)})" if names else ""
    return (f"{uri.what}: {uri.path!r} is a union ControlNet: give the control mode each "
            f"control image is for with mode= (a name{listed} or a number)")


def _no_modes(uri: ControlNetUri, cls: str = "ControlNetModel") -> str:
    return (f"{uri.what}: mode= selects a control mode of a union ControlNet, and "
            f"{uri.path!r} is a plain ControlNet ({cls}); leave mode out")


def _modes_in_config(pipeline: Any) -> bool:
    """Whether the pipeline's ControlNet is a union one of the plain class (Flux), which
    takes its control modes like a multi-ControlNet rather than as one list."""
    from .families import FLUX

    return type(getattr(pipeline, "controlnet", None)).__name__ in (FLUX.plain, FLUX.multi)


def _multi(classes: ControlNetClasses, models: list[Any]) -> Any:
    """Several ControlNets as the family's multi-ControlNet."""
    import diffusers

    return getattr(diffusers, classes.multi)(models)


def _flux_union_arguments(uris: list[ControlNetUri], images: list[Any],
                          modes: list[int]) -> dict[str, Any]:
    """The call arguments of a Flux union ControlNet: one mode is the model alone; several
    are a multi-ControlNet of it, with a control image, mode and scale each. Start and end
    are the first URI's, repeated per mode (the pipeline pairs scales with them)."""
    first = uris[0]
    if len(uris) == 1:
        return {"control_image": images[0], "control_mode": modes[0],
                "controlnet_conditioning_scale": first.scale,
                "control_guidance_start": first.start, "control_guidance_end": first.end}
    return {"control_image": images, "control_mode": modes,
            "controlnet_conditioning_scale": [uri.scale for uri in uris],
            "control_guidance_start": [first.start] * len(uris),
            "control_guidance_end": [first.end] * len(uris)}
