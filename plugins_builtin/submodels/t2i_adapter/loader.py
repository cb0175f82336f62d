"""The ``t2i_adapter`` sub-model kind: ``--t2i-adapters URI [URI ...]``.

A T2I adapter turns a control image (edges, depth, a pose ...) into feature maps that
are added to the UNet's down blocks while it denoises. diffusers runs them in its own
pipeline classes (``StableDiffusionAdapterPipeline``, ``StableDiffusionXLAdapterPipeline``),
which do txt2img only; the toolkit builds that pipeline variant from the loaded model
with ``from_pipe`` (no weights load twice) and hands it the adapter from
:meth:`T2IAdapterKind.components`: one ``T2IAdapter``, or a ``MultiAdapter`` around
several. ``scale`` is a call argument (``adapter_conditioning_scale``), so adapters are
cached by what creates them only.

Single files. diffusers' ``T2IAdapter`` has no ``from_single_file``, and a weights file
carries no configuration, so it is read here: the architecture follows from the
weights' shapes (the first convolution tells the input channels and the pixel
unshuffle factor, the blocks their widths and depth) unless a ``config.json`` of a
``T2IAdapter`` lies beside the file (as in a downloaded repository), which then wins.
A pixel unshuffle of 16 is the SDXL layout (``full_adapter_xl``), 8 the SD one
(``full_adapter``); a block with ``in_conv``/``out_conv`` and no ``conv_in`` is the
light adapter. Besides diffusers' key layout the original TencentARC files are read
(``body.<n>.block1`` ..., and ``body.<n>.body.<m>`` for the light adapter), as long as
they have the architecture diffusers implements (no ``skep``/``down_opt`` weights).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import warnings
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Literal

from dgenerate.plugin_api import ArgSpec, DgenerateError, LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.devices import resolve_dtype
from dgenerate.plugin_api.diffusion.loading import (
    describe_component_failure,
    disk_size,
    first_paragraph,
    hub_offline,
    where_text,
)
from dgenerate.plugin_api.diffusion.sources import (
    MODEL_FILE_SUFFIXES,
    ResolvedModel,
    resolve_model,
)

__all__ = ["ARGUMENTS", "AdapterUri", "T2IAdapterKind", "load_single_file",
           "parse_adapter_uri"]

OPTION = "--t2i-adapters"
FACTORS = "sdxl_t2i_adapter_factors"
#: the values key of --control-nets, which excludes T2I adapters
CONTROL_NETS = "control_nets"

ARGUMENTS = (
    ArgSpec(name="scale", type=float, default=1.0,
            help="how strongly the adapter steers the image (its features are multiplied by it)"),
    ArgSpec(name="revision", type=str | None, default=None,
            help="the branch, tag or commit of a Hugging Face repository (default main)"),
    ArgSpec(name="variant", type=str | None, default=None,
            help="the weights variant (diffusion_pytorch_model.<variant>.safetensors); it does "
                 "not follow --variant"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the adapter's folder inside the repository or folder"),
    ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
            default=None, help="the adapter's precision (default: the model's --dtype)"),
)
_SINGLE_FILE_ARGUMENTS = ("scale", "dtype")

_HUB_LINK = re.compile(r"^(https?://(?:www\.)?(?:huggingface\.co|hf\.co)/[^/]+/[^/]+/"
                       r"(?:blob|resolve)/)([^/]+)(/.+)$", re.IGNORECASE)
_SLUG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: what each adapter type is for, in messages
_MADE_FOR = {"full_adapter": "Stable Diffusion 1.x/2.x", "light_adapter": "Stable Diffusion "
             "1.x/2.x", "full_adapter_xl": "Stable Diffusion XL"}
#: the adapter types each model type can use
_FITS = {"sd": ("full_adapter", "light_adapter"), "sdxl": ("full_adapter_xl",)}


@dataclasses.dataclass(frozen=True)
class AdapterUri:
    """One ``--t2i-adapters`` URI, parsed (``text`` as the user wrote it)."""

    text: str
    path: str
    scale: float = 1.0
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None

    @property
    def what(self) -> str:
        """How messages name it: ``--t2i-adapters 'owner/name;scale=0.5'``."""
        return f"{OPTION} {self.text!r}"

    @property
    def is_url(self) -> bool:
        return self.path.lower().startswith(("http://", "https://"))

    @property
    def is_hub_link(self) -> bool:
        return bool(_HUB_LINK.match(self.path))

    @property
    def is_single_file(self) -> bool:
        """Whether the adapter is one weights file (told without downloading anything)."""
        if self.is_url:
            return True
        local = os.path.expanduser(self.path)
        if os.path.isdir(local):
            return False
        return os.path.isfile(local) or local.lower().endswith(MODEL_FILE_SUFFIXES)

    def key(self) -> Hashable:
        """What the loaded adapter depends on (not ``scale``: that is a call argument)."""
        local = os.path.expanduser(self.path)
        where = os.path.abspath(local) if not self.is_url and os.path.exists(local) else (
            self.path)
        return (where, self.revision or "main", self.variant, self.subfolder, self.dtype)


def parse_adapter_uri(text: str, context: Any) -> AdapterUri:
    """Bind and check the arguments of one ``--t2i-adapters`` URI (nothing loads)."""
    owner = f"{OPTION} {text!r}"
    try:
        path, arguments = context.parse_uri(text, ARGUMENTS, owner=owner)
    except DgenerateError as error:
        message = str(error)
        if message.startswith(OPTION):
            raise
        raise DgenerateError(f"{owner}: {message}") from None
    uri = AdapterUri(text=text, path=path.strip(), **arguments)
    if not math.isfinite(uri.scale):
        raise DgenerateError(f"{owner}: scale must be a finite number, not {uri.scale!r}")
    if not uri.path:
        raise DgenerateError(f"{owner} names no adapter: give a repository, folder or file")
    if uri.is_single_file:
        refused = [name for name in ("revision", "variant", "subfolder")
                   if name in arguments and not (name == "revision" and uri.is_hub_link)]
        if refused:
            kind = ("a Hugging Face file link" if uri.is_hub_link else
                    "a URL of a weights file" if uri.is_url else "a single weights file")
            takes = "scale, dtype and revision" if uri.is_hub_link else "scale and dtype"
            raise DgenerateError(
                f"{owner}: {uri.path!r} is {kind}, which takes only the arguments {takes}; "
                f"not {', '.join(refused)} (those say where the adapter is inside a "
                "repository or folder)")
    return uri


def _with_revision(link: str, revision: str) -> str:
    """A Hugging Face file link pointing at ``revision`` instead of its own."""
    from urllib.parse import quote

    match = _HUB_LINK.match(link)
    assert match is not None
    return match.group(1) + quote(revision, safe="") + match.group(3)


class T2IAdapterKind(SubModel):
    """T2I adapters: ``--t2i-adapters "PATH;scale=...;revision=...;variant=...;subfolder=...;
    dtype=..."``, one control image each from ``--image-seeds``.

    PATH is a Hugging Face repository id, a diffusers folder, a single weights file
    (.safetensors .pt .pth .bin .ckpt; diffusers' or the original TencentARC layout), a
    Hugging Face blob link or an http(s) URL (downloaded into the web cache). ``scale``
    (default 1.0) says how strongly the adapter steers; ``variant`` does not follow
    --variant; ``dtype`` defaults to --dtype. A single file takes only scale and dtype.
    Several adapters are combined (a MultiAdapter), each weighted by its scale.

    T2I adapters work for --model-type sd and sdxl, in txt2img only (control images
    alone in --image-seeds), and not together with --control-nets. With sdxl,
    --sdxl-t2i-adapter-factors gives the fractions of the steps the adapters act in.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parsed: dict[str, AdapterUri] = {}

    @property
    def _option(self) -> str:
        return self.option_names[0] if self.option_names else "t2i_adapters"

    def given(self, values: Mapping[str, Any]) -> bool:
        # --sdxl-t2i-adapter-factors is an axis (never None): only the adapters count
        return bool(values.get(self._option))

    def uris(self, values: Mapping[str, Any]) -> list[AdapterUri]:
        found = []
        for text in values.get(self._option) or ():
            uri = self._parsed.get(text)
            if uri is None:
                uri = self._parsed[text] = parse_adapter_uri(text, self.context)
            found.append(uri)
        return found

    # ------------------------------------------------------------------ checks

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        uris = self.uris(values)
        if not uris:
            return
        if values.get(CONTROL_NETS):
            raise DgenerateError(
                f"{OPTION} and --control-nets cannot be used together: both steer the image "
                "with the control images of --image-seeds; choose one")
        dtypes = {uri.dtype for uri in uris}
        if len(dtypes) > 1:
            listing = ", ".join(f"{uri.text!r} ({uri.dtype or '--dtype'})" for uri in uris)
            raise DgenerateError(
                f"{OPTION}: adapters used together must have one dtype, and these differ: "
                f"{listing}")
        for uri in uris:
            if not uri.is_url:
                located = self._locate(uri, token=None)  # a missing file or folder fails now
                if located.kind == "folder":
                    _check_folder(uri, located)

    # ------------------------------------------------------------------ keys

    def pipeline_variant(self, values: Mapping[str, Any]) -> str | None:
        return "t2i_adapter" if self.given(values) else None

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        return tuple(uri.key() for uri in self.uris(values))

    # ---------------------------------------------------------------- loading

    def _locate(self, uri: AdapterUri, *, token: str | None) -> ResolvedModel:
        """Where the adapter is: URLs and blob links are downloaded (or found in a cache)."""
        path = uri.path
        if uri.revision is not None and uri.is_hub_link:
            path = _with_revision(path, uri.revision)
        if not uri.is_url and not os.path.exists(os.path.expanduser(path)) and (
                path.lower().endswith(MODEL_FILE_SUFFIXES) or not _SLUG.match(path)):
            raise DgenerateError(
                f"{uri.what}: {path!r} does not exist: it is not a folder, a weights file "
                f"({', '.join(MODEL_FILE_SUFFIXES)}), a URL or a Hugging Face repository id "
                "(owner/name)")
        try:
            return resolve_model(path, fetch=self.context.fetch, token=token,
                                 offline=self.context.offline_mode)
        except DgenerateError as error:
            raise DgenerateError(f"{uri.what}: {error}") from None

    def adapter(self, uri: AdapterUri, target: LoadTarget) -> Any:
        """One adapter, from the ``t2i_adapter`` object cache or loaded into it."""
        located = self._locate(uri, token=target.token)
        dtype = target.dtype if uri.dtype is None else resolve_dtype(uri.dtype, target.device)
        where = located.location if located.kind == "hub" else os.path.abspath(
            located.location)
        key = (located.kind, where, uri.revision or "main", uri.variant, uri.subfolder,
               str(dtype), target.device)

        def create() -> Any:
            self.context.debug(f"loading the T2I adapter of {uri.what} from "
                               f"{located.location!r} ({dtype})")
            with _quiet(self.context.verbose):
                if located.kind == "file":
                    adapter = load_single_file(located.location, dtype=dtype, what=uri.what)
                else:
                    adapter = _load_pretrained(uri, located, dtype, target)
            return adapter.to(target.device).eval()

        return self.context.cache(self.slot or "t2i_adapter").get_or_create(
            key, create, size=disk_size(located), device=target.device)

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        uris = self.uris(values)
        if not uris:
            return {}
        adapters = [self.adapter(uri, target) for uri in uris]
        fits = _FITS.get(target.model_type)
        for uri, adapter in zip(uris, adapters, strict=True):
            kind = adapter.config.adapter_type
            if fits is not None and kind not in fits:
                raise DgenerateError(
                    f"{uri.what}: this is a T2I adapter for {_MADE_FOR.get(kind, kind)} "
                    f"({kind}); --model-type {target.model_type} needs one made for "
                    f"{_MADE_FOR[fits[0]]} ({' or '.join(fits)})")
        if len(adapters) == 1:
            return {"adapter": adapters[0]}
        factors = {adapter.total_downscale_factor for adapter in adapters}
        if len(factors) > 1:
            listing = ", ".join(f"{uri.text!r} ({adapter.total_downscale_factor})"
                                for uri, adapter in zip(uris, adapters, strict=True))
            raise DgenerateError(f"{OPTION}: adapters used together must shrink the control "
                                 f"image by one factor, and these differ: {listing}")
        from diffusers import MultiAdapter

        # a fresh wrapper around the cached adapters: it holds no weights of its own
        return {"adapter": MultiAdapter(adapters)}

    # ----------------------------------------------------------- calling

    def call_arguments(self, job: Any, pipeline: Any,
                       values: Mapping[str, Any]) -> dict[str, Any]:
        uris = self.uris(values)
        if not uris:
            return {}
        images = list(job.control_images)
        if len(images) != len(uris):
            raise DgenerateError(
                f"{OPTION} gives {len(uris)} adapter{'s' if len(uris) != 1 else ''} and "
                f"--image-seeds {len(images)} control image{'s' if len(images) != 1 else ''}: "
                "give one control image per adapter")
        adapters = getattr(pipeline.adapter, "adapters", None) or [pipeline.adapter]
        _check_fit(uris, adapters, pipeline, job)
        # adapters trained on grey images (most sketch and Canny ones) take one channel
        images = [image.convert("L") if adapter.config.in_channels == 1 else
                  image.convert("RGB") for image, adapter in zip(images, adapters, strict=True)]
        batch = job.batch_size
        # one copy of the control image per image of the batch: the adapter's features are
        # added to the latents of every one
        if len(uris) == 1:
            arguments: dict[str, Any] = {"image": [images[0]] * batch,
                                         "adapter_conditioning_scale": uris[0].scale}
        else:
            arguments = {"image": [[image] * batch for image in images],
                         "adapter_conditioning_scale": [uri.scale for uri in uris]}
        factor = values.get(FACTORS)
        if factor is not None:
            arguments["adapter_conditioning_factor"] = float(factor)
        return arguments


def _check_fit(uris: list[AdapterUri], adapters: list[Any], pipeline: Any, job: Any) -> None:
    """The adapters' feature maps must match the UNet's down blocks, and the image size
    must divide into them."""
    unet = getattr(pipeline, "unet", None)
    widths = list(getattr(getattr(unet, "config", None), "block_out_channels", None) or ())
    for uri, adapter in zip(uris, adapters, strict=True):
        features = list(adapter.config.channels)
        if adapter.config.adapter_type == "light_adapter":
            features.append(features[-1])  # its last block keeps the width
        if widths and features[:len(widths)] != widths:
            raise DgenerateError(
                f"{uri.what}: the adapter makes features {features} wide and the UNet's "
                f"blocks are {widths} wide; it was made for another model")
        factor = adapter.total_downscale_factor
        if job.width % factor or job.height % factor:
            raise DgenerateError(
                f"{uri.what}: this adapter needs an image size that is a multiple of {factor}, "
                f"and job {job.number} is {job.width}x{job.height}; give --output-size or "
                "resize the control image (--image-seeds \"image.png;resize=WxH\")")


# ------------------------------------------------------------- folders and the hub


def _check_folder(uri: AdapterUri, located: ResolvedModel) -> None:
    folder = os.path.join(located.location, uri.subfolder) if uri.subfolder else (
        located.location)
    if uri.subfolder and not os.path.isdir(folder):
        raise DgenerateError(f"{uri.what}: the folder {located.location!r} has no subfolder "
                             f"{uri.subfolder!r}")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        inside = sorted(name for name in os.listdir(folder) if os.path.isfile(
            os.path.join(folder, name, "config.json")))
        hint = f"; its subfolders {', '.join(map(repr, inside))} have one (add subfolder=)" if (
            inside) else ""
        raise DgenerateError(f"{uri.what}: {folder!r} is not a diffusers T2I adapter folder "
                             f"(it has no config.json){hint}")


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Keep the libraries' own messages off the console while an adapter loads (-v shows
    them)."""
    if verbose:
        yield
        return
    import diffusers.utils.logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity(diffusers_logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        diffusers_logging.set_verbosity(level)


def _load_pretrained(uri: AdapterUri, located: ResolvedModel, dtype: Any,
                     target: LoadTarget) -> Any:
    from diffusers import T2IAdapter

    offline = target.offline
    options: dict[str, Any] = {"local_files_only": offline}
    if uri.subfolder:
        options["subfolder"] = uri.subfolder
    if located.kind == "hub":
        options["revision"] = uri.revision or "main"
        if target.token:
            options["token"] = target.token
    else:
        _check_folder(uri, located)
    missing_hint = f" (in its subfolder {uri.subfolder!r})" if uri.subfolder else ""
    with hub_offline(offline):
        try:
            config = T2IAdapter.load_config(located.location, **options)
        except Exception as error:
            raise DgenerateError(describe_component_failure(
                uri.what, located, error, revision=uri.revision, offline=offline,
                what_file="config.json", missing_hint=missing_hint, component="T2I adapter"),
            ) from error
        saved = config.get("_class_name") if isinstance(config, Mapping) else None
        if saved and saved != "T2IAdapter":
            raise DgenerateError(f"{uri.what}: {where_text(located, uri.revision)} holds a "
                                 f"{saved}, not a T2IAdapter")
        try:
            return T2IAdapter.from_pretrained(located.location, torch_dtype=dtype,
                                              variant=uri.variant, **options)
        except Exception as error:
            if uri.variant and uri.variant in str(error):
                raise DgenerateError(
                    f"{uri.what}: {where_text(located, uri.revision)} has no weights of the "
                    f"variant {uri.variant!r} (diffusion_pytorch_model.{uri.variant}"
                    ".safetensors)") from error
            if located.kind == "hub":
                raise DgenerateError(describe_component_failure(
                    uri.what, located, error, revision=uri.revision, offline=offline,
                    what_file="the weights", missing_hint=missing_hint,
                    component="T2I adapter")) from error
            raise DgenerateError(f"{uri.what}: cannot load the T2I adapter from "
                                 f"{where_text(located)}: {first_paragraph(error)}") from error


# ------------------------------------------------------------------ single files


def load_single_file(path: str, *, dtype: Any, what: str = OPTION) -> Any:
    """A ``T2IAdapter`` from one weights file (see the module documentation)."""
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    where = f"the file {path!r}"
    try:
        checkpoint = load_single_file_checkpoint(path, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{what}: {where} cannot be read ({type(error).__name__}: "
                             f"{first_paragraph(error)})") from error
    state = _diffusers_layout(dict(checkpoint), what=what, where=where)
    beside = _config_beside(path)
    if beside is not None:
        try:
            return _build(beside, state, what=what, where=where).to(dtype)
        except DgenerateError:
            pass  # the config.json there is of another adapter: the shapes say which
    return _build(_shape_config(state, what=what, where=where), state, what=what,
                  where=where).to(dtype)


def _build(config: Mapping[str, Any], state: Mapping[str, Any], *, what: str,
           where: str) -> Any:
    """A T2IAdapter of ``config`` holding ``state``'s tensors (which must fit exactly)."""
    import torch
    from diffusers import T2IAdapter

    try:
        with torch.device("meta"):
            adapter = T2IAdapter.from_config(dict(config))
        missing, unexpected = adapter.load_state_dict(
            {f"adapter.{key}": value for key, value in state.items()}, strict=False, assign=True)
    except (RuntimeError, ValueError, TypeError) as error:
        raise DgenerateError(f"{what}: the weights of {where} do not make a T2IAdapter "
                             f"({_describe(config)}): {first_paragraph(error)}") from error
    if missing or unexpected:
        detail = (f"lacks {len(missing)} of its weights, such as {missing[0]!r}" if missing
                  else f"has {len(unexpected)} weights it does not use, such as "
                       f"{unexpected[0]!r}")
        raise DgenerateError(f"{what}: {where} does not fit the T2IAdapter its shapes "
                             f"describe ({_describe(config)}): it {detail}")
    return adapter


def _config_beside(path: str) -> dict[str, Any] | None:
    """The configuration in a ``config.json`` of a T2IAdapter next to the file, if any."""
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    try:
        with open(beside, encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("_class_name") != "T2IAdapter":
        return None
    return {key: value for key, value in config.items() if not key.startswith("_")}


def _describe(config: Mapping[str, Any]) -> str:
    return (f"{config.get('adapter_type')}, channels {list(config.get('channels', ()))}, "
            f"{config.get('num_res_blocks')} resnets a block")


_FLAT = re.compile(r"^body\.(\d+)\.(.+)$")


def _diffusers_layout(state: dict[str, Any], *, what: str, where: str) -> dict[str, Any]:
    """The weights with diffusers' keys inside ``T2IAdapter.adapter`` (``conv_in``,
    ``body.<block>.resnets.<n>`` ...), from diffusers' or the original layout."""
    if any(key.startswith("adapter.") for key in state):
        state = {key[len("adapter."):]: value for key, value in state.items()
                 if key.startswith("adapter.")}
    if not any(key.startswith("body.") for key in state):
        tops = sorted({key.split(".", 1)[0] for key in state})
        shown = ", ".join(map(repr, tops[:6])) + (" ..." if len(tops) > 6 else "")
        raise DgenerateError(f"{what}: {where} holds no T2I adapter weights (no 'body' "
                             f"blocks; its keys start with {shown or 'nothing'})")
    if any(".resnets." in key for key in state):
        return state  # diffusers' layout
    if any(".skep." in key or ".down_opt." in key for key in state):
        raise DgenerateError(
            f"{what}: {where} is an original T2I adapter with skip or strided convolutions "
            "(skep / down_opt weights), an architecture diffusers' T2IAdapter does not have")
    if any(re.match(r"^body\.\d+\.body\.", key) for key in state):
        # the original light adapter: body.<block>.body.<resnet>.block1 ...
        return {re.sub(r"^body\.(\d+)\.body\.(\d+)\.", r"body.\1.resnets.\2.", key): value
                for key, value in state.items()}
    return _from_original_full(state, what=what, where=where)


def _from_original_full(state: dict[str, Any], *, what: str, where: str) -> dict[str, Any]:
    """TencentARC's full adapter numbers its resnets flat (``body.<block * n + resnet>``)
    and gives the first resnet of a block that widens an ``in_conv``."""
    flat = sorted({int(match.group(1)) for key in state if (match := _FLAT.match(key))})
    widening = [index for index in flat if index > 0 and f"body.{index}.in_conv.weight" in state]
    if "conv_in.weight" not in state or not widening:
        raise DgenerateError(
            f"{what}: {where} has T2I adapter weights in a layout that is not understood (no "
            "'conv_in' or no block that widens); save it with diffusers' T2IAdapter")
    resnets = widening[0]
    if len(flat) % resnets or flat != list(range(len(flat))):
        raise DgenerateError(f"{what}: {where} has {len(flat)} resnet blocks, which do not "
                             f"group into blocks of {resnets}")
    converted = {}
    for key, value in state.items():
        match = _FLAT.match(key)
        if match is None:
            converted[key] = value
            continue
        block, resnet = divmod(int(match.group(1)), resnets)
        rest = match.group(2)
        if rest.startswith("in_conv."):
            converted[f"body.{block}.{rest}"] = value
        else:
            converted[f"body.{block}.resnets.{resnet}.{rest}"] = value
    return converted


def _unshuffle(unshuffled: int) -> tuple[int, int] | None:
    """(input channels, pixel unshuffle factor) for a first convolution that takes
    ``unshuffled`` channels: RGB or grey images, unshuffled by factor x factor."""
    for channels in (3, 1):
        if unshuffled % channels == 0:
            factor = math.isqrt(unshuffled // channels)
            if factor * factor * channels == unshuffled:
                return channels, factor
    return None


def _shape_config(state: Mapping[str, Any], *, what: str, where: str) -> dict[str, Any]:
    """What the weights' shapes say of a T2IAdapter's configuration."""
    blocks = sorted({int(match.group(1)) for key in state if (match := _FLAT.match(key))})
    resnets = {key.split(".")[3] for key in state if key.startswith("body.0.resnets.")}
    try:
        if "conv_in.weight" in state:
            unshuffled = int(state["conv_in.weight"].shape[1])
            channels = [int(state[f"body.{block}.resnets.0.block1.weight"].shape[0])
                        for block in blocks]
            light = False
        else:
            unshuffled = int(state["body.0.in_conv.weight"].shape[1])
            channels = [int(state[f"body.{block}.out_conv.weight"].shape[0])
                        for block in blocks[:-1]]
            light = True
    except KeyError as missing:
        raise DgenerateError(f"{what}: {where} is not a T2I adapter diffusers can run: it has "
                             f"no weight {missing.args[0]!r}") from None
    found = _unshuffle(unshuffled)
    if found is None or not channels or not resnets:
        raise DgenerateError(f"{what}: {where} is not a T2I adapter diffusers can run (its "
                             f"first convolution takes {unshuffled} channels)")
    in_channels, factor = found
    adapter_type = "light_adapter" if light else (
        "full_adapter_xl" if factor == 16 else "full_adapter")
    return {"in_channels": in_channels, "channels": channels, "num_res_blocks": len(resnets),
            "downscale_factor": factor, "adapter_type": adapter_type}
