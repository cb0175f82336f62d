"""The ``upscaler`` image processor.

This module stays light to import (``--image-processor-help upscaler`` reads the
class below): torch, spandrel, NumPy and Pillow are imported when an upscaler
is created or used.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Annotated, Any

from dgenerate.plugin_api import (
    Arg,
    DgenerateError,
    ImageProcessor,
    PluginArgumentError,
    PluginContext,
)
from dgenerate.plugin_api.caching import cached
from dgenerate.plugin_api.diffusion.devices import resolve_device
from dgenerate.plugin_api.values import MAX_IMAGE_SIDE

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["Upscaler"]

_DTYPE_NAMES = ("float32", "float16", "bfloat16")
_DEVICE = re.compile(r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")
_MIN_TILE = 16
#: tile sizes tried in turn by tile=auto when the device runs out of memory
_AUTO_TILES = (512, 256, 128, 64)
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}

#: models of upscalers created without a kernel context (no object cache to use)


class Upscaler(ImageProcessor):
    """Upscale an image with a chaiNNer-compatible super-resolution model.

    Any torch model that the spandrel library recognises works: ESRGAN and
    Real-ESRGAN (including the Compact models), SwinIR, HAT, SPAN, DAT, OmniSR
    and many more, e.g. those listed on https://openmodeldb.info. The
    architecture, scale factor and colour channels are read from the weights.

    model: the model file. A path on disk, an http(s) URL (downloaded once
    into dgenerate's web cache) or a Hugging Face file link such as
    https://huggingface.co/OWNER/NAME/blob/main/4x_model.pth (downloaded into
    the Hugging Face cache; a token from HF_TOKEN or huggingface-cli login is
    used if present). safetensors files and PyTorch checkpoints (.pth, .pt,
    .ckpt, also BasicSR files holding "params_ema") are accepted, recognised by
    their content. Checkpoints are unpickled in PyTorch's weights-only mode,
    which refuses anything but tensors and plain containers; TorchScript
    archives are refused. With --offline-mode only cached downloads are used.

    tile: the side in pixels of the square tiles the input image is cut into,
    so that large images fit in memory (default 512). Neighbouring tiles
    overlap and are cross-faded where they meet, so no seams show. The size is
    rounded down to the multiple of pixels the model requires. 0 processes
    every image whole; so does any image that fits in a single tile. "auto"
    starts with 512 and, whenever the device runs out of memory, retries the
    image with half the tile size, down to 64.

    overlap: how many input pixels neighbouring tiles share at least (default
    32). Inside the overlap the result fades linearly from one tile to the
    next, which hides the borders of the tiles, where the model lacks context.
    It must be 0 or more and less than the tile size; the larger it is, the
    more tiles are needed (half the tile size doubles their number along each
    axis). tile=auto lowers it to half the tile for its smaller tiles.

    scale: the factor, relative to the input size, of the returned image. By
    default the image keeps the model's own factor (4x for a 4x model). When
    given and different, the model's result is resized with Lanczos filtering
    to exactly scale times the input width and height: scale=2 with a 4x model
    gives a 2x image with the model's detail; a scale above the model's factor
    enlarges its result by plain resampling.

    force-tiling: tile models that spandrel marks as unsuited to tiling (for
    example SwinIR and SCUNet, which use information from the whole image).
    Those models are otherwise run on the whole image, whatever tile says,
    which needs more memory. Default false.

    dtype: the precision the model runs in: float32 (default), float16 or
    bfloat16. Half precision saves memory and time on GPUs; some architectures
    do not support it, which is reported when the model loads.

    device: where the model runs, e.g. cpu, cuda, cuda:1, mps, xpu; defaults to
    the value of --device ("auto" picks cuda, xpu or mps when present, else the
    CPU). model-offload: move the model back to the CPU after each image, to
    free device memory between images at the price of moving it back each time.

    The model is loaded when the processor is created and kept in dgenerate's
    "upscaler" object cache, keyed by file, dtype and device, so a chain of
    processors or a config script that uses the same model loads it once.
    Alpha channels are upscaled separately with Lanczos filtering (unless the
    model itself takes four channels). The result is RGB for colour models
    (grayscale inputs are converted), grayscale for single-channel models.
    """

    def __init__(
        self,
        *,
        model: Annotated[str, Arg(help="model file path, URL or Hugging Face file link")],
        tile: Annotated[
            int | str, Arg(help="tile size in pixels, 0 for no tiling, or auto")] = 512,
        overlap: Annotated[int, Arg(help="pixels shared by neighbouring tiles")] = 32,
        scale: Annotated[
            int | None, Arg(help="resize the result to this factor of the input")] = None,
        force_tiling: Annotated[
            bool, Arg(help="tile models that spandrel says not to tile")] = False,
        dtype: Annotated[str, Arg(help="float32, float16 or bfloat16")] = "float32",
        device: Annotated[str, Arg(help="device to run on, e.g. cpu, cuda:1")] = "auto",
        model_offload: Annotated[
            bool, Arg(help="move the model back to the CPU after each image")] = False,
        context: Annotated[PluginContext | None, Arg(hidden=True)] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tile = _check_tile(tile)
        self.overlap = _check_overlap(overlap, self.tile)
        if scale is not None and (isinstance(scale, bool) or not 1 <= scale <= MAX_IMAGE_SIDE):
            raise PluginArgumentError(
                f"upscaler: scale={scale} is not a factor from 1 to {MAX_IMAGE_SIDE} (omit it "
                "to keep the model's own factor)")
        self.scale = scale
        self.force_tiling = bool(force_tiling)
        self.dtype = str(dtype).strip().lower()
        if self.dtype not in _DTYPE_NAMES:
            raise PluginArgumentError(
                f"upscaler: dtype={dtype!r} is not one of {', '.join(_DTYPE_NAMES)}")
        if not isinstance(device, str) or not _DEVICE.match(device.strip().lower()):
            raise PluginArgumentError(
                f"upscaler: device={device!r} is not auto, cpu, cuda, cuda:N, mps, xpu or xpu:N")
        self.model_offload = bool(model_offload)
        self.model_path = model
        self._context = context
        self.device = _resolve_device(device.strip().lower())
        self._model = self._load_model()

    # ------------------------------------------------------------------ loading

    def _debug(self, message: str) -> None:
        debug = getattr(self._context, "debug", None)
        if callable(debug):
            debug(f"upscaler: {message}")

    def _load_model(self) -> Any:
        from .loading import locate_model

        context = self._context
        path = locate_model(self.model_path, fetch=getattr(context, "fetch", None),
                            offline=bool(getattr(context, "offline_mode", False)))
        real = os.path.realpath(path)
        status = os.stat(real)
        key = (real, status.st_mtime_ns, status.st_size, self.dtype, self.device)

        def create() -> Any:
            return self._create_model(path)

        return cached(context, "upscaler", key, create, size=status.st_size)

    def _create_model(self, path: str) -> Any:
        from .loading import convert_dtype, load_descriptor

        descriptor = load_descriptor(path, shown=self.model_path)
        convert_dtype(descriptor, self.dtype, self.model_path)
        tags = f" ({', '.join(descriptor.tags)})" if descriptor.tags else ""
        self._debug(f"loaded {descriptor.architecture.name}{tags} x{descriptor.scale} from "
                    f"{path} as {self.dtype} for {self.device}")
        return descriptor

    # --------------------------------------------------------------- processing

    def process(self, image: Image) -> Image:
        from PIL import Image as PILImage

        descriptor = self._model
        self._check_result_size(image.size, descriptor.scale)
        alpha = None
        if descriptor.input_channels != 4 and image.has_transparency_data:
            alpha = image.convert("RGBA").getchannel("A")
        source = image.convert(_MODES[descriptor.input_channels])

        try:
            descriptor.to(self.device)
            result = self._upscale(descriptor, _to_tensor(source))
        finally:
            if self.model_offload:
                self._offload(descriptor)
        output = _to_image(result)

        if self.scale is not None:
            target = (image.width * self.scale, image.height * self.scale)
            if output.size != target:
                output = output.resize(target, PILImage.Resampling.LANCZOS)
        if alpha is not None:
            output.putalpha(alpha.resize(output.size, PILImage.Resampling.LANCZOS))
        return output

    def _check_result_size(self, size: tuple[int, int], model_scale: int) -> None:
        """Refuse, before the model runs, a result larger than MAX_IMAGE_SIDE per side."""
        factor = max(model_scale, self.scale or 0)
        if max(size) * factor > MAX_IMAGE_SIDE:
            raise PluginArgumentError(
                f"upscaler: upscaling the {size[0]}x{size[1]} image x{factor} would make "
                f"{size[0] * factor}x{size[1] * factor} pixels, above the limit of "
                f"{MAX_IMAGE_SIDE} pixels per side")

    def _offload(self, descriptor: Any) -> None:
        import torch

        descriptor.to("cpu")
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        elif self.device.startswith("xpu"):
            torch.xpu.empty_cache()
        elif self.device == "mps":
            torch.mps.empty_cache()

    def _tiling_allowed(self, descriptor: Any) -> bool:
        import spandrel

        if self.force_tiling or descriptor.tiling is spandrel.ModelTiling.SUPPORTED:
            return True
        self._debug(f"spandrel advises against tiling {descriptor.architecture.name} models "
                    f"({descriptor.tiling.name}); processing images whole (force-tiling=true "
                    "tiles anyway)")
        return False

    def _upscale(self, descriptor: Any, tensor: Any) -> Any:
        from .loading import DTYPES
        from .tiling import align_tile

        dtype = DTYPES[self.dtype]
        if not self._tiling_allowed(descriptor):
            return self._attempt(descriptor, tensor, 0, 0, dtype, hint=(
                "force-tiling=true lets it be processed in tiles"))
        requirements = descriptor.size_requirements
        if self.tile != "auto":
            tile = align_tile(self.tile, requirements) if self.tile else 0
            overlap = min(self.overlap, tile - 1) if tile else 0  # alignment may shrink it
            return self._attempt(descriptor, tensor, tile, overlap, dtype, hint=(
                "use a smaller tile, or tile=auto" if tile else "set tile to tile the image"))
        sizes = sorted({align_tile(size, requirements) for size in _AUTO_TILES}, reverse=True)
        for index, tile in enumerate(sizes):
            last = index == len(sizes) - 1
            try:
                return self._attempt(descriptor, tensor, tile, min(self.overlap, tile // 2),
                                     dtype, hint="even tiles of the smallest size do not fit",
                                     retry=not last)
            except _OutOfMemory:
                self._debug(f"out of memory with {tile} px tiles, trying smaller tiles")
        raise AssertionError("unreachable")  # the last attempt raises instead

    def _attempt(self, descriptor: Any, tensor: Any, tile: int, overlap: int, dtype: Any, *,
                 hint: str, retry: bool = False) -> Any:
        from .tiling import count_tiles, is_out_of_memory, upscale_tensor

        _, _, height, width = tensor.shape
        multiple = max(1, int(descriptor.size_requirements.multiple_of))
        total = count_tiles(height, width, tile, overlap, multiple) if tile else 1
        self._debug(f"{width}x{height} image in {total} tile(s)"
                    + (f" of {tile} px overlapping by {overlap} px" if total > 1 else ""))
        progress = _progress(self._context, total)
        try:
            return upscale_tensor(descriptor, tensor, tile=tile, overlap=overlap,
                                  device=self.device, dtype=dtype, multiple=multiple,
                                  on_tile=(lambda: progress.update(1)) if progress else None)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            self._free_device_memory()
            if retry:
                raise _OutOfMemory from None
            size = f"tiles of {tile} px" if tile and total > 1 else "the whole image"
            raise DgenerateError(
                f"upscaler: {self.device} ran out of memory upscaling a {width}x{height} image "
                f"with {size} using {self.model_path!r}; {hint}") from None
        finally:
            if progress:
                progress.close()

    def _free_device_memory(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


class _OutOfMemory(Exception):
    """One tile size of tile=auto did not fit; the next one is tried."""


def _check_tile(tile: Any) -> int | str:
    if isinstance(tile, str):
        text = tile.strip().lower()
        if text == "auto":
            return "auto"
        try:
            tile = int(text)
        except ValueError:
            raise PluginArgumentError(
                f"upscaler: tile={tile!r} is not a number of pixels, 0 (no tiling) or auto"
            ) from None
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 0:
        raise PluginArgumentError(
            f"upscaler: tile={tile!r} is not a number of pixels, 0 (no tiling) or auto")
    if tile > MAX_IMAGE_SIDE:
        raise PluginArgumentError(
            f"upscaler: tile={tile} is above the limit of {MAX_IMAGE_SIDE} pixels")
    if 0 < tile < _MIN_TILE:
        raise PluginArgumentError(
            f"upscaler: tile={tile} is too small; tiles must be at least {_MIN_TILE} pixels "
            "(or 0 for no tiling)")
    return tile


def _check_overlap(overlap: Any, tile: int | str) -> int:
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise PluginArgumentError(
            f"upscaler: overlap={overlap!r} is not a number of pixels (0 or more)")
    largest = _AUTO_TILES[0] if tile == "auto" else tile
    if largest and overlap >= largest:
        raise PluginArgumentError(
            f"upscaler: overlap={overlap} must be less than the tile size "
            f"({largest} px{' for tile=auto' if tile == 'auto' else ''})")
    return overlap


def _resolve_device(device: str) -> str:
    return resolve_device(device, what="upscaler: device=")



def _progress(context: Any, total: int) -> Any:
    progress = getattr(context, "progress", None)
    if total < 2 or not callable(progress):
        return None
    return progress(total, "upscaler tiles")


def _to_tensor(image: Image) -> Any:
    """A Pillow image as a (1, C, H, W) float32 tensor with values 0..1."""
    import numpy as np
    import torch

    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def _to_image(tensor: Any) -> Image:
    """A (1, C, H, W) tensor with values 0..1 as an L, RGB or RGBA Pillow image."""
    import torch
    from PIL import Image as PILImage

    array = (tensor[0].clamp(0, 1) * 255.0).round().to(dtype=torch.uint8)
    array = array.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        array = array[:, :, 0]
    return PILImage.fromarray(array)
