"""The ``vae`` sub-model kind: ``--vae CLASS;model=PATH`` gives a model another VAE.

A VAE URI is checked before anything loads (its class, its arguments, which arguments
its kind of source takes). Loaded VAEs are kept in the ``vae`` object cache under
their creation parameters, so one VAE given to several models loads once.

An AutoencoderKL can be a single weights file: in the diffusers layout or the original
(LDM) one, by itself or inside a whole model's checkpoint (``extract=true``). Such a
file holds no configuration; the architecture is read from the weights' shapes and
the rest (scaling factor, normalization groups ...) is taken from the VAE of the model
it is given to, which shares its latent space.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
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

__all__ = ["CLASSES", "Vae", "VaeUri", "load_single_file", "parse_vae_uri"]

#: the VAE classes a URI may name; only the first loads from a single file
CLASSES = ("AutoencoderKL", "AsymmetricAutoencoderKL", "AutoencoderTiny", "ConsistencyDecoderVAE")
_SINGLE_FILE_CLASSES = ("AutoencoderKL",)
#: classes whose decoding cannot be tiled or sliced
_NO_TILING = ("AsymmetricAutoencoderKL",)
#: classes that tile and slice their encoding only (they decode whole pictures)
_ENCODING_TILES_ONLY = ("ConsistencyDecoderVAE",)

ARGUMENTS = (
    ArgSpec(name="model", type=str,
            help="a Hugging Face repository id, a folder, a weights file, a blob link or a URL"),
    ArgSpec(name="revision", type=str | None, default=None,
            help="the repository branch, tag or commit (default main)"),
    ArgSpec(name="variant", type=str | None, default=None,
            help="the weights variant (diffusion_pytorch_model.<variant>.safetensors)"),
    ArgSpec(name="subfolder", type=str | None, default=None,
            help="the VAE's subfolder; with extract, its key prefix in the file (vae)"),
    ArgSpec(name="dtype", type=Literal["auto", "float16", "bfloat16", "float32"] | None,
            default=None, help="the VAE's precision (default: the model's --dtype)"),
    ArgSpec(name="extract", type=bool, default=False,
            help="the file is a whole model: take its VAE"),
)

_KEYWORD = re.compile(r"\s*[A-Za-z_][\w-]*\s*=")
_MODEL_KEYWORD = re.compile(r"(?:^|;)\s*model\s*=")
_HUB_LINK = re.compile(r"^(https?://(?:www\.)?(?:huggingface\.co|hf\.co)/[^/]+/[^/]+/"
                       r"(?:blob|resolve)/)([^/]+)(/.+)$")
#: key prefixes of the parts of a whole model's checkpoint other than the VAE
_OTHER_PARTS = ("model.diffusion_model.", "cond_stage_model.", "conditioner.", "unet.",
                "text_encoder.", "text_encoder_2.", "text_encoders.", "transformer.")
#: key prefixes under which whole-model checkpoints keep their VAE
_VAE_PREFIXES = ("vae.", "first_stage_model.")


@dataclasses.dataclass(frozen=True)
class VaeUri:
    """A parsed ``--vae`` URI (``text`` as the user wrote it)."""

    text: str
    cls: str
    model: str
    revision: str | None = None
    variant: str | None = None
    subfolder: str | None = None
    dtype: str | None = None
    extract: bool = False

    @property
    def what(self) -> str:
        """How messages name it: ``--vae 'AutoencoderKL;model=x'``."""
        return f"--vae {self.text!r}"

    @property
    def is_url(self) -> bool:
        return self.model.lower().startswith(("http://", "https://"))

    @property
    def is_hub_link(self) -> bool:
        return bool(_HUB_LINK.match(self.model))

    @property
    def is_single_file(self) -> bool:
        """Whether the model is one weights file (told without downloading anything)."""
        if self.is_url:
            return True
        local = os.path.expanduser(self.model)
        if os.path.isdir(local):
            return False
        return os.path.isfile(local) or local.lower().endswith(MODEL_FILE_SUFFIXES)


def _keyword_form(text: str) -> str:
    """``CLASS;PATH;...`` written as ``CLASS;model="PATH";...`` (other URIs unchanged)."""
    name, separator, rest = text.partition(";")
    if not separator or not rest.strip() or _KEYWORD.match(rest):
        return text
    stripped = rest.lstrip()
    if stripped[0] in "\"'":
        quote, index, chars = stripped[0], 1, []
        while index < len(stripped):
            char = stripped[index]
            if char == "\\" and index + 1 < len(stripped) and stripped[index + 1] in (
                    quote, "\\"):
                chars.append(stripped[index + 1])
                index += 2
                continue
            if char == quote:
                break
            chars.append(char)
            index += 1
        else:
            return text  # an unclosed quote: the URI parser says where
        after = stripped[index + 1:].lstrip()
        if after and not after.startswith(";"):
            return text  # text after the quote: the URI parser says what
        path, remainder = "".join(chars), after[1:]
    else:
        path, _, remainder = rest.partition(";")
        path = path.strip()
    if _MODEL_KEYWORD.search(remainder):
        raise DgenerateError(f"--vae {text!r} gives the model twice: as {path!r} and with "
                             "model=")
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name};model="{escaped}"' + (f";{remainder}" if remainder.strip() else "")


def parse_vae_uri(text: str, context: Any) -> VaeUri:
    """Check the class and bind the arguments of a ``--vae`` URI (nothing is loaded)."""
    name = text.split(";", 1)[0].strip()
    if name not in CLASSES:
        same = {cls.lower(): cls for cls in CLASSES}.get(name.lower())
        close = [same] if same else difflib.get_close_matches(name, CLASSES, n=1, cutoff=0.5)
        suggestion = f"; did you mean {close[0]!r}?" if close else "."
        raise DgenerateError(
            f"--vae {text!r}: unknown VAE class {name!r}{suggestion} A VAE URI starts with "
            f"its class, one of {', '.join(CLASSES)} (such as AutoencoderKL;model=PATH)")
    try:
        _, arguments = context.parse_uri(_keyword_form(text), ARGUMENTS, owner=f"--vae {name}")
    except DgenerateError as error:
        message = str(error)
        if message.startswith("--vae"):
            raise
        raise DgenerateError(f"--vae {text!r}: {message}") from None
    uri = VaeUri(text=text, cls=name, **arguments)
    if not uri.model.strip():
        raise DgenerateError(f"{uri.what} names no model: give model=PATH")
    return uri


def _with_revision(link: str, revision: str) -> str:
    """A Hugging Face file link pointing at ``revision`` instead of its own."""
    from urllib.parse import quote

    match = _HUB_LINK.match(link)
    assert match is not None
    return match.group(1) + quote(revision, safe="") + match.group(3)


class Vae(SubModel):
    """Another VAE for the model: ``--vae "CLASS;model=PATH;ARGUMENT=VALUE..."``.

    CLASS is AutoencoderKL, AsymmetricAutoencoderKL, AutoencoderTiny or
    ConsistencyDecoderVAE. PATH is a Hugging Face repository id or a diffusers folder;
    an AutoencoderKL may also be a single weights file (.safetensors .ckpt .pt .pth
    .bin), a Hugging Face blob link or a URL (downloaded into the web cache).
    ``CLASS;PATH`` is short for ``CLASS;model=PATH``.

    Arguments: ``revision`` (default main), ``variant`` (it does not follow
    --variant), ``subfolder``, ``dtype`` (default: the model's --dtype) and
    ``extract=true`` (PATH is a whole model in one file; its VAE is under the key
    prefix ``subfolder``, default ``vae``, or the original layout's
    ``first_stage_model``). A single file takes only model, dtype and extract.
    AsymmetricAutoencoderKL cannot be used with --vae-tiling or --vae-slicing;
    ConsistencyDecoderVAE tiles and slices only its encoding (a warning says so).
    """

    def uri(self, values: Mapping[str, Any]) -> VaeUri | None:
        text = values.get(self.option_names[0] if self.option_names else "vae")
        return None if text is None else parse_vae_uri(text, self.context)

    # ------------------------------------------------------------------ checks

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        uri = self.uri(values)
        if uri is None:
            return
        if uri.cls in _NO_TILING:
            for flag, name in (("--vae-tiling", "vae_tiling"), ("--vae-slicing", "vae_slicing")):
                if values.get(name):
                    raise DgenerateError(f"{uri.what}: {uri.cls} cannot decode in tiles or "
                                         f"slices; leave out {flag}")
        if uri.cls in _ENCODING_TILES_ONLY:
            flags = [flag for flag, name in (("--vae-tiling", "vae_tiling"),
                                             ("--vae-slicing", "vae_slicing"))
                     if values.get(name)]
            if flags:
                self.context.warn(f"{uri.what}: {uri.cls} decodes whole pictures; "
                                  f"{' and '.join(flags)} only apply to its encoding of "
                                  "input images")
        if uri.is_single_file:
            self._check_single_file(uri)
        elif uri.extract:
            raise DgenerateError(
                f"{uri.what}: extract=true takes the VAE out of a whole model saved as one "
                f"file, and {uri.model!r} is not a file")
        if not uri.is_url:
            self._locate(uri, token=None)  # a missing file or folder fails now

    def _check_single_file(self, uri: VaeUri) -> None:
        if uri.cls not in _SINGLE_FILE_CLASSES:
            raise DgenerateError(
                f"{uri.what}: {uri.cls} loads from a diffusers folder or a Hugging Face "
                f"repository only, and {uri.model!r} is a single file (only AutoencoderKL "
                "loads single files)")
        refused = [name for name in ("revision", "variant", "subfolder")
                   if getattr(uri, name) is not None
                   and not (name == "revision" and uri.is_hub_link)
                   and not (name == "subfolder" and uri.extract)]
        if refused:
            takes = ("model, dtype and extract (with subfolder: the key prefix of the VAE "
                     "in the file)")
            raise DgenerateError(
                f"{uri.what}: {uri.model!r} is a single file, which takes only the arguments "
                f"{takes}; not {', '.join(refused)}")

    # ------------------------------------------------------------------ keys

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        uri = self.uri(values)
        if uri is None:
            return None
        local = os.path.expanduser(uri.model)
        where = os.path.abspath(local) if not uri.is_url and os.path.exists(local) else uri.model
        return (uri.cls, where, uri.revision or "main", uri.variant, uri.subfolder, uri.dtype,
                uri.extract)

    # ---------------------------------------------------------------- loading

    def _locate(self, uri: VaeUri, *, token: str | None) -> ResolvedModel:
        """Where the VAE is: URLs and blob links are downloaded (or found in their cache)."""
        model = uri.model
        if uri.revision is not None and uri.is_hub_link:
            model = _with_revision(model, uri.revision)
        try:
            return resolve_model(model, fetch=self.context.fetch, token=token,
                                 offline=self.context.offline_mode)
        except DgenerateError as error:
            raise DgenerateError(f"{uri.what}: {error}") from None

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        uri = self.uri(values)
        if uri is None:
            return {}
        located = self._locate(uri, token=target.token)
        dtype = target.dtype if uri.dtype is None else resolve_dtype(uri.dtype, target.device)
        main = _main_vae_config(target)
        # a single file takes its configuration from the main model's VAE: part of the key
        borrowed = json.dumps(main, sort_keys=True, default=str) if (
            located.kind == "file" and main is not None) else None
        # (the device too: the pipeline moves its VAE there, and a VAE shared by pipelines
        # on two devices would be taken from one of them)
        where = located.location if located.kind == "hub" else os.path.abspath(
            located.location)
        key = (uri.cls, located.kind, where, uri.revision or "main", uri.variant,
               uri.subfolder, str(dtype), uri.extract, borrowed, target.device)

        def create() -> Any:
            self.context.debug(f"loading the VAE {uri.cls} of --vae {uri.text!r} from "
                               f"{located.location!r} ({dtype})")
            return _load(uri, located, dtype, main if borrowed else None, target,
                         self.context.verbose)

        vae = self.context.cache(self.slot or "vae").get_or_create(
            key, create, size=disk_size(located))
        _check_latents(uri, vae, main, target)
        return {"vae": vae}


def _check_latents(uri: VaeUri, vae: Any, main: Mapping[str, Any] | None,
                   target: LoadTarget) -> None:
    """A VAE whose latents have another channel count than the model's cannot work."""
    if main is None:
        return
    ours, theirs = getattr(vae.config, "latent_channels", None), main.get("latent_channels")
    if ours is not None and theirs is not None and ours != theirs:
        raise DgenerateError(
            f"{uri.what}: this VAE has {ours} latent channels and the VAE of the "
            f"{target.model_type} model has {theirs}; it does not fit this model")


def _main_vae_config(target: LoadTarget) -> dict[str, Any] | None:
    """The configuration of the VAE of the model the VAE is given to, when it can be read
    without downloading weights (None for single-file models)."""
    model = getattr(target, "model", None)
    if model is None:
        return None
    subfolder = target.subfolder or ""
    config: Any = None
    if model.kind == "folder":
        path = os.path.join(model.location, subfolder, "vae", "config.json")
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as file:
                    config = json.load(file)
            except (OSError, ValueError):
                return None
    elif model.kind == "hub":
        from diffusers import AutoencoderKL

        try:
            with hub_offline(target.offline), _quiet(False):
                config = AutoencoderKL.load_config(
                    model.location, subfolder="/".join(filter(None, (subfolder, "vae"))),
                    revision=target.revision, token=target.token,
                    local_files_only=target.offline)
        except Exception:
            return None
    return dict(config) if isinstance(config, Mapping) else None


def _load(uri: VaeUri, located: ResolvedModel, dtype: Any, main: Mapping[str, Any] | None,
          target: LoadTarget, verbose: bool = False) -> Any:
    import diffusers

    cls = getattr(diffusers, uri.cls, None)
    if cls is None:
        raise DgenerateError(f"{uri.what}: the installed diffusers has no class {uri.cls}")
    if located.kind == "file":
        return load_single_file(located.location, dtype=dtype, extract=uri.extract,
                                prefix=uri.subfolder, base_config=main, what=uri.what)
    return _load_pretrained(cls, uri, located, dtype, target, verbose)


# ------------------------------------------------------------- folders and the hub


def _hub_failure(uri: VaeUri, located: ResolvedModel, error: Exception, offline: bool,
                 what_file: str) -> str:
    return describe_component_failure(uri.what, located, error, revision=uri.revision,
                                      offline=offline, what_file=what_file,
                                      missing_hint=_subfolder_hint(uri), component="VAE")

def _subfolder_hint(uri: VaeUri) -> str:
    if uri.subfolder:
        return f" (in its subfolder {uri.subfolder!r})"
    return " (when the VAE is the one of a pipeline, add subfolder=vae)"


def _check_folder(uri: VaeUri, located: ResolvedModel) -> None:
    folder = os.path.join(located.location, uri.subfolder) if uri.subfolder else (
        located.location)
    if uri.subfolder and not os.path.isdir(folder):
        raise DgenerateError(f"{uri.what}: the folder {located.location!r} has no subfolder "
                             f"{uri.subfolder!r}")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        hint = ("; it holds a pipeline: add subfolder=vae" if not uri.subfolder and os.path.isfile(
            os.path.join(folder, "vae", "config.json")) else "")
        raise DgenerateError(f"{uri.what}: {folder!r} is not a diffusers VAE folder (it has no "
                             f"config.json){hint}")


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Keep the libraries' own messages (a failed variant lookup is logged as an error,
    deprecation warnings) off the console while a VAE loads; -v shows them."""
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


def _load_pretrained(cls: Any, uri: VaeUri, located: ResolvedModel, dtype: Any,
                     target: LoadTarget, verbose: bool = False) -> Any:
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
    with hub_offline(offline), _quiet(verbose):
        try:
            config = cls.load_config(located.location, **options)
        except Exception as error:
            raise DgenerateError(_hub_failure(uri, located, error, offline, "config.json")
                                 ) from error
        saved = config.get("_class_name") if isinstance(config, Mapping) else None
        if saved and saved != cls.__name__:
            hint = (f": write {saved};model=..." if saved in CLASSES else
                    " (a VAE URI names one of " + ", ".join(CLASSES) + ")")
            raise DgenerateError(f"{uri.what}: {where_text(located, uri.revision)} holds a VAE of "
                                 f"the class {saved}, not {cls.__name__}{hint}")
        try:
            vae = cls.from_pretrained(located.location, torch_dtype=dtype, variant=uri.variant,
                                      **options)
        except Exception as error:
            if uri.variant and uri.variant in str(error):
                raise DgenerateError(
                    f"{uri.what}: {where_text(located, uri.revision)} has no weights of the "
                    f"variant {uri.variant!r} (diffusion_pytorch_model.{uri.variant}.safetensors)"
                ) from error
            if located.kind == "hub":
                raise DgenerateError(_hub_failure(uri, located, error, offline, "the weights")
                                     ) from error
            raise DgenerateError(f"{uri.what}: cannot load the VAE from "
                                 f"{where_text(located)}: {first_paragraph(error)}") from error
    return vae.eval()


# ------------------------------------------------------------------ single files


def load_single_file(path: str, *, dtype: Any, extract: bool = False,
                     prefix: str | None = None, base_config: Mapping[str, Any] | None = None,
                     what: str = "--vae") -> Any:
    """An ``AutoencoderKL`` from one weights file (diffusers or original LDM key layout).

    With ``extract`` the file is a whole model and the VAE is the part under ``prefix``
    (``vae``, else ``first_stage_model``, when None). The architecture is read from the
    weights; the rest of the configuration comes from ``base_config`` (the VAE it
    replaces), else from diffusers' defaults.
    """
    import torch
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import (
        convert_ldm_vae_checkpoint,
        load_single_file_checkpoint,
    )

    where = f"the checkpoint {path!r}"
    try:
        checkpoint = load_single_file_checkpoint(path, local_files_only=True)
    except Exception as error:
        raise DgenerateError(f"{what}: {where} cannot be read ({type(error).__name__}: "
                             f"{first_paragraph(error)})") from error
    state = _vae_part(checkpoint, extract=extract, prefix=prefix, what=what, where=where)
    original = not any(key.startswith(("encoder.down_blocks.", "decoder.up_blocks."))
                       for key in state)
    levels = _levels(state, original)
    if not levels:
        raise DgenerateError(f"{what}: {where} holds no AutoencoderKL weights (no encoder "
                             "blocks)")
    if original:
        blocks = {"down_block_types": ["DownEncoderBlock2D"] * levels,
                  "up_block_types": ["UpDecoderBlock2D"] * levels}
        state = convert_ldm_vae_checkpoint(state, blocks)
    try:
        shapes = _shape_config(state, levels)
    except KeyError as missing:
        raise DgenerateError(f"{what}: {where} is not an AutoencoderKL: it has no weight "
                             f"{missing.args[0]!r}") from None
    config = _configuration(base_config, shapes)
    try:
        with torch.device("meta"):
            vae = AutoencoderKL.from_config(config)
        missing, _ = vae.load_state_dict(state, strict=False, assign=True)
    except (RuntimeError, ValueError) as error:
        raise DgenerateError(f"{what}: the weights of {where} do not make an AutoencoderKL: "
                             f"{first_paragraph(error)}") from error
    if missing:
        raise DgenerateError(f"{what}: {where} lacks {len(missing)} weights of an "
                             f"AutoencoderKL, such as {missing[0]!r}")
    return vae.to(dtype).eval()


def _vae_part(checkpoint: Mapping[str, Any], *, extract: bool, prefix: str | None,
              what: str, where: str) -> dict[str, Any]:
    keys = list(checkpoint)
    if not extract:
        if any(key.startswith(_OTHER_PARTS) for key in keys):
            raise DgenerateError(f"{what}: {where} holds a whole model, not only a VAE: add "
                                 "extract=true to take its VAE")
        candidates: tuple[str, ...] = _VAE_PREFIXES
    else:
        candidates = (prefix.strip(".") + ".",) if prefix else _VAE_PREFIXES
    for start in candidates:
        part = {key[len(start):]: value for key, value in checkpoint.items()
                if key.startswith(start)}
        if part:
            return part
    if not extract:
        return dict(checkpoint)
    if any(key.startswith(("encoder.", "decoder.")) for key in keys):
        hint = "it is a VAE by itself: leave out extract"
    else:
        tops = sorted({key.split(".", 1)[0] for key in keys})
        hint = "its keys start with " + ", ".join(map(repr, tops[:8])) + (
            " ..." if len(tops) > 8 else "")
    looked = " or ".join(repr(start) for start in candidates)
    raise DgenerateError(f"{what}: {where} has no weights under {looked}; {hint}")


def _levels(state: Mapping[str, Any], original: bool) -> int:
    pattern = re.compile(r"^encoder\.down\.(\d+)\." if original else
                         r"^encoder\.down_blocks\.(\d+)\.")
    found = [int(match.group(1)) for key in state if (match := pattern.match(key))]
    return max(found) + 1 if found else 0


def _shape_config(state: Mapping[str, Any], levels: int) -> dict[str, Any]:
    """What the weights' shapes say of an AutoencoderKL's architecture."""
    resnets = {key.split(".")[4] for key in state
               if key.startswith("encoder.down_blocks.0.resnets.")}
    return {
        "in_channels": int(state["encoder.conv_in.weight"].shape[1]),
        "out_channels": int(state["decoder.conv_out.weight"].shape[0]),
        "latent_channels": int(state["decoder.conv_in.weight"].shape[1]),
        "block_out_channels": [
            int(state[f"encoder.down_blocks.{level}.resnets.0.conv1.weight"].shape[0])
            for level in range(levels)],
        "layers_per_block": len(resnets),
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "use_quant_conv": "quant_conv.weight" in state,
        "use_post_quant_conv": "post_quant_conv.weight" in state,
        "mid_block_add_attention": any(key.startswith("encoder.mid_block.attentions.")
                                       for key in state),
    }


def _configuration(base: Mapping[str, Any] | None, shapes: Mapping[str, Any]) -> dict[str, Any]:
    config = {key: value for key, value in (base or {}).items() if not key.startswith("_")}
    if base is not None and base.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        config = {}
    config.update(shapes)
    channels = shapes["block_out_channels"]
    groups = config.get("norm_num_groups", 32)
    if any(count % groups for count in channels):
        config["norm_num_groups"] = 32 if not any(count % 32 for count in channels) else (
            math.gcd(*channels))
    return config
