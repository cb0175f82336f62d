"""The ``upscaler`` image processor, with tiny random-weight spandrel models built here.

Models (built once per session, a few hundred KB in all): ESRGAN x4 saved as
.pth, .safetensors, a BasicSR-style {"params_ema": ...} .pth and a legacy
(non-zip) pickle; RealESRGAN Compact x2 (RGB and grayscale); SPAN x3; SAFMN x2
(needs sizes that are multiples of 8, and has no float16 support). Processors
are created through the real registry from URIs, as the render loop does.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api import Category, DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import assert_import_light, run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve

UPSCALER = "upscaler"


@dataclass(frozen=True)
class Models:
    folder: Path
    esrgan: Path  # x4, torch.save zip
    esrgan_safetensors: Path
    esrgan_ema: Path  # {"params_ema": state dict}
    esrgan_legacy: Path  # torch.save's old non-zip pickle format
    compact: Path  # x2
    gray: Path  # Compact x2, one channel in and out
    span: Path  # x3, safetensors
    safmn: Path  # x2, multiple_of 8, no float16


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SPAN import SPAN

    folder = tmp_path_factory.mktemp("upscalers")
    torch.manual_seed(0)
    found = Models(folder, *(folder / name for name in (
        "4x-esrgan.pth", "4x-esrgan.safetensors", "4x-esrgan-ema.pth", "4x-esrgan-legacy.pth",
        "2x-compact.pth", "2x-gray.pth", "3x-span.safetensors", "2x-safmn.pth")))
    esrgan = ESRGAN(num_filters=8, num_blocks=1, scale=4).state_dict()
    torch.save(esrgan, found.esrgan)
    save_file({key: value.contiguous() for key, value in esrgan.items()},
              found.esrgan_safetensors)
    torch.save({"params_ema": esrgan, "iter": 1000}, found.esrgan_ema)
    torch.save(esrgan, found.esrgan_legacy, _use_new_zipfile_serialization=False)
    torch.save(Compact(num_feat=8, num_conv=2, upscale=2).state_dict(), found.compact)
    torch.save(Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2,
                       upscale=2).state_dict(), found.gray)
    save_file(SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=3).state_dict(),
              found.span)
    torch.save(SAFMN(dim=8, n_blocks=1, ffn_scale=2.0, upscaling_factor=2).state_dict(),
               found.safmn)
    for path in folder.iterdir():
        os.chmod(path, 0o644)  # safetensors writes 0600 files
    return found


@pytest.fixture
def context(plugin_manager) -> KernelContext:
    return KernelContext(plugin_manager)


@pytest.fixture
def create(context: KernelContext):
    return lambda uri: context.create(Category.IMAGE_PROCESSOR, uri, device="cpu")


def picture(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A smooth random picture (upscaled noise), so models have structure to work on."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), channels),
                         dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def difference(first: Image.Image, second: Image.Image) -> np.ndarray:
    assert first.size == second.size and first.mode == second.mode
    return np.abs(pixels(first) - pixels(second))


# ------------------------------------------------------------------ models and sizes


@pytest.mark.parametrize(("attribute", "scale"), [
    ("esrgan", 4), ("esrgan_safetensors", 4), ("esrgan_ema", 4), ("esrgan_legacy", 4),
    ("compact", 2), ("span", 3), ("safmn", 2)])
def test_output_is_the_model_scale_times_the_input(create, models: Models, attribute: str,
                                                   scale: int) -> None:
    image = picture(30, 22)  # not a multiple of 8: SAFMN's input gets padded by spandrel
    result = create(f"upscaler;model={getattr(models, attribute)}")(image)
    assert result.mode == "RGB"
    assert result.size == (30 * scale, 22 * scale)


def test_every_file_format_holds_the_same_model(create, models: Models) -> None:
    image = picture(24, 16)
    reference = create(f"upscaler;model={models.esrgan}")(image)
    for path in (models.esrgan_safetensors, models.esrgan_ema, models.esrgan_legacy):
        assert np.array_equal(pixels(create(f"upscaler;model={path}")(image)),
                              pixels(reference)), path


def test_the_model_changes_the_image_beyond_resampling(create, models: Models) -> None:
    image = picture(24, 16)
    result = create(f"upscaler;model={models.compact}")(image)
    plain = image.resize(result.size, Image.Resampling.LANCZOS)
    assert difference(result, plain).mean() > 1


def test_alpha_is_upscaled_beside_the_colours(create, models: Models) -> None:
    image = picture(20, 12, mode="RGBA")
    result = create(f"upscaler;model={models.compact}")(image)
    assert result.mode == "RGBA" and result.size == (40, 24)
    expected = image.getchannel("A").resize((40, 24), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(result.getchannel("A")), pixels(expected))


def test_a_grayscale_model_returns_a_grayscale_image(create, models: Models) -> None:
    result = create(f"upscaler;model={models.gray}")(picture(20, 12))
    assert result.mode == "L" and result.size == (40, 24)


# ------------------------------------------------------------------------ tiling


@pytest.mark.parametrize("attribute", ["esrgan", "compact"])
def test_tiles_blend_into_the_untiled_result(create, models: Models, attribute: str) -> None:
    model = getattr(models, attribute)
    image = picture(100, 76, seed=3)  # 4 x 3 tiles of 32 px
    whole = create(f"upscaler;model={model};tile=0")(image)
    tiled = create(f"upscaler;model={model};tile=32;overlap=8")(image)
    error = difference(whole, tiled)
    assert error.mean() < 2 and error.max() <= 8, (error.mean(), error.max())


def test_tiles_without_overlap_differ_more(create, models: Models) -> None:
    image = picture(100, 76, seed=3)
    whole = create(f"upscaler;model={models.compact};tile=0")(image)
    blended = difference(whole, create(
        f"upscaler;model={models.compact};tile=32;overlap=8")(image))
    abutting = difference(whole, create(
        f"upscaler;model={models.compact};tile=32;overlap=0")(image))
    assert abutting.mean() > blended.mean()


def test_models_with_a_size_grid_are_tiled_on_it(create, models: Models) -> None:
    image = picture(90, 70, seed=4)  # neither side a multiple of SAFMN's 8 or of the tile
    whole = create(f"upscaler;model={models.safmn};tile=0")(image)
    tiled = create(f"upscaler;model={models.safmn};tile=45;overlap=20")(image)  # -> 40 px
    assert tiled.size == whole.size == (180, 140)
    # random weights have a large receptive field and gain: only roughly equal
    assert difference(whole, tiled).mean() < 8


def test_an_image_within_one_tile_is_processed_whole(create, models: Models) -> None:
    image = picture(40, 30)
    whole = create(f"upscaler;model={models.compact};tile=0")(image)
    for uri in ("tile=40", "tile=512;force-tiling=true", "tile=auto"):
        assert np.array_equal(pixels(create(f"upscaler;model={models.compact};{uri}")(image)),
                              pixels(whole)), uri


def test_tile_starts_cover_the_axis_with_the_overlap() -> None:
    from dgenerate.plugins_builtin.upscaler.tiling import tile_starts

    for length in range(17, 300, 7):
        for tile, overlap, multiple in ((16, 0, 1), (32, 8, 1), (40, 12, 8), (64, 31, 16)):
            starts = tile_starts(length, tile, overlap, multiple)
            ends = [min(start + tile, length) for start in starts]
            assert starts[0] == 0 and ends[-1] == length
            assert all(start % multiple == 0 for start in starts)
            assert all(end - start >= min(tile, length) - multiple + 1
                       for start, end in zip(starts, ends, strict=True))
            for previous_end, start in zip(ends[:-1], starts[1:], strict=True):
                assert previous_end - start >= overlap
    assert tile_starts(32, 32, 8) == [0]


def test_tile_auto_halves_the_tile_when_memory_runs_out(
        create, models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from dgenerate.plugins_builtin.upscaler import tiling

    tried: list[int] = []
    real = tiling.upscale_tensor

    def limited(model, image, *, tile, **kwargs):
        tried.append(tile)
        if tile > 128:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, image, tile=tile, **kwargs)

    monkeypatch.setattr(tiling, "upscale_tensor", limited)
    image = picture(300, 140)
    result = create(f"upscaler;model={models.compact};tile=auto")(image)
    assert tried == [512, 256, 128] and result.size == (600, 280)
    with pytest.raises(DgenerateError, match=r"ran out of memory .* tile=auto"):
        create(f"upscaler;model={models.compact};tile=256")(image)


# ------------------------------------------------------------- scale, dtype, device


def test_scale_resizes_the_model_result(create, models: Models) -> None:
    image = picture(24, 18)
    native = create(f"upscaler;model={models.esrgan}")(image)
    assert np.array_equal(pixels(create(f"upscaler;model={models.esrgan};scale=4")(image)),
                          pixels(native))
    half = create(f"upscaler;model={models.esrgan};scale=2")(image)
    assert half.size == (48, 36)
    assert np.array_equal(pixels(half),
                          pixels(native.resize((48, 36), Image.Resampling.LANCZOS)))
    assert create(f"upscaler;model={models.compact};scale=3")(image).size == (72, 54)


def test_bfloat16_runs_close_to_float32(create, models: Models) -> None:
    image = picture(24, 16)
    full = create(f"upscaler;model={models.compact}")(image)
    reduced = create(f"upscaler;model={models.compact};dtype=bfloat16")(image)
    assert difference(full, reduced).mean() < 3


def test_models_are_loaded_once_per_file_dtype_and_device(context, create,
                                                          models: Models) -> None:
    first = create(f"upscaler;model={models.compact}")
    second = create(f"upscaler;model={models.compact};tile=64")
    other = create(f"upscaler;model={models.compact};dtype=bfloat16")
    cache = context.cache("upscaler")
    assert first._model is second._model and other._model is not first._model
    assert (cache.misses, cache.hits) == (2, 1)


def test_without_a_kernel_context_models_are_cached_in_the_process(models: Models) -> None:
    from dgenerate.plugins_builtin.upscaler.processor import Upscaler

    first = Upscaler(model=str(models.span), device="cpu")
    assert Upscaler(model=str(models.span), device="cpu", tile=64)._model is first._model
    assert first(picture(10, 8)).size == (30, 24)
    with pytest.raises(DgenerateError, match="created without the kernel's context"):
        Upscaler(model="https://example.invalid/4x.pth", device="cpu")


def test_model_offload_moves_the_model_to_the_cpu(create, models: Models,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    processor = create(f"upscaler;model={models.compact};model-offload=true")
    moves: list[object] = []
    descriptor = processor._model
    real = descriptor.to
    monkeypatch.setattr(descriptor, "to", lambda *args: (moves.append(args), real(*args))[1])
    processor(picture(16, 16))
    assert moves == [("cpu",), ("cpu",)]  # to the device (here the CPU too), then back


# ------------------------------------------------------------------- model sources


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def test_a_url_is_downloaded_once_into_the_web_cache(
        plugin_manager, server: FileServer, models: Models, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGENERATE_CACHE", str(tmp_path / "cache"))
    url = server.add("/files/4x-esrgan.pth", models.esrgan)
    # no extension: the file is recognised by its content
    bare = server.add("/download/12345", models.compact.read_bytes())
    for _ in range(2):  # a fresh context each time, as separate invocations have
        context = KernelContext(plugin_manager)
        result = context.create(Category.IMAGE_PROCESSOR, f"upscaler;model={url}")(
            picture(12, 10))
        assert result.size == (48, 40)
        assert context.create(Category.IMAGE_PROCESSOR, f"upscaler;model={bare}")(
            picture(12, 10)).size == (24, 20)
    assert server.hits["/files/4x-esrgan.pth"] == 1 and server.hits["/download/12345"] == 1
    assert list((tmp_path / "cache" / "web").rglob("4x-esrgan.pth"))
    offline = KernelContext(plugin_manager, offline_mode=True)
    missing = server.add("/files/other.pth", models.esrgan)
    with pytest.raises(DgenerateError, match="other.pth"):
        offline.create(Category.IMAGE_PROCESSOR, f"upscaler;model={missing}")
    assert "/files/other.pth" not in server.hits


def test_a_hugging_face_blob_link_comes_from_the_hub_cache(
        create, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    hub_cache_entry(cache, "tester/upscalers", {"main": {
        "4x/esrgan.safetensors": models.esrgan_safetensors}})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    link = "https://huggingface.co/tester/upscalers/blob/main/4x/esrgan.safetensors"
    assert create(f"upscaler;model={link}")(picture(10, 8)).size == (40, 32)
    with pytest.raises(DgenerateError, match="not in the local Hugging Face cache"):
        create("upscaler;model=https://huggingface.co/tester/upscalers/blob/main/2x.pth")


# ------------------------------------------------------------------------- errors


def test_missing_and_unusable_files(create, models: Models, tmp_path: Path) -> None:
    with pytest.raises(DgenerateError, match="'nowhere/4x.pth' does not exist"):
        create("upscaler;model=nowhere/4x.pth")
    with pytest.raises(DgenerateError, match="is a folder"):
        create(f"upscaler;model={models.folder}")
    notes = tmp_path / "notes.pth"
    notes.write_text("not a model")
    with pytest.raises(DgenerateError, match=r"spandrel cannot identify .*notes\.pth"):
        create(f"upscaler;model={notes}")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(models.esrgan.read_bytes()[:3000])
    with pytest.raises(DgenerateError, match=r"spandrel cannot identify .*truncated\.pth"):
        create(f"upscaler;model={truncated}")


def test_a_state_dict_of_no_known_architecture(create, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    unknown = tmp_path / "unknown.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 4)}, unknown)
    with pytest.raises(DgenerateError,
                       match=r"spandrel cannot identify the model architecture of .*unknown"):
        create(f"upscaler;model={unknown}")


class _Payload:
    """Unpickling this runs os.mkdir - which a safe load must never do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickles_are_loaded_without_running_code(create, tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "code-ran"
    hostile = tmp_path / "hostile.pth"
    torch.save({"conv.weight": torch.zeros(1), "extra": _Payload(marker)}, hostile)
    with pytest.raises(DgenerateError, match=r"hostile\.pth' holds the Python object "
                                             r"'posix\.mkdir'.* refused"):
        create(f"upscaler;model={hostile}")
    assert not marker.exists()
    script = tmp_path / "scripted.pt"
    with zipfile.ZipFile(script, "w") as archive:  # the layout of a TorchScript archive
        archive.writestr("scripted/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("scripted/constants.pkl", b"\x80\x02)q\x00.")
        archive.writestr("scripted/code/__torch__.py", "")
    with pytest.raises(DgenerateError, match="TorchScript"):
        create(f"upscaler;model={script}")


@pytest.mark.parametrize(("arguments", "message"), [
    ("tile=-1", "tile=-1 is not a number of pixels"),
    ("tile=huge", "tile='huge' is not a number of pixels"),
    ("tile=8", "tile=8 is too small"),
    ("overlap=-2", "overlap=-2 is not a number"),
    ("tile=64;overlap=64", "overlap=64 must be less than the tile size"),
    ("tile=auto;overlap=512", r"overlap=512 must be less than the tile size \(512 px for"),
    ("scale=0", "scale=0 is not a factor"),
    ("scale=99999", "scale=99999 is not a factor"),
    ("tile=99999", "tile=99999 is above the limit of 16384 pixels"),
    ("dtype=float64", "dtype='float64' is not one of float32, float16, bfloat16"),
    ("device=tpu", "device='tpu' is not auto, cpu"),
])
def test_bad_arguments(create, models: Models, arguments: str, message: str) -> None:
    with pytest.raises(PluginArgumentError, match=message):
        create(f"upscaler;model={models.compact};{arguments}")


def test_a_result_beyond_the_size_limit_is_refused_before_the_model_runs(
        create, models: Models) -> None:
    processor = create(f"upscaler;model={models.compact};scale=1000")
    with pytest.raises(PluginArgumentError, match=r"upscaling the 24x18 image x1000 would make "
                                                  r"24000x18000 pixels, above the limit"):
        processor(picture(24, 18))


def test_bad_argument_types_are_reported_by_the_uri_parser(create, models: Models) -> None:
    with pytest.raises(PluginArgumentError, match="overlap"):
        create(f"upscaler;model={models.compact};overlap=lots")


def test_an_unsupported_dtype_names_the_architecture(create, models: Models) -> None:
    with pytest.raises(DgenerateError, match="float16 is not supported by the SAFMN model"):
        create(f"upscaler;model={models.safmn};dtype=float16")


def test_a_device_that_is_not_here(create, models: Models) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(DgenerateError, match="device=cuda:1: no cuda device"):
        create(f"upscaler;model={models.compact};device=cuda:1")


def test_the_model_argument_is_required(create) -> None:
    with pytest.raises(PluginArgumentError, match="needs the argument 'model'"):
        create("upscaler;tile=64")


# --------------------------------------------------------------------------- help


def test_help_shows_the_arguments_and_the_description() -> None:
    result = run_cli("--image-processor-help", "upscaler")
    assert result.exit_code == 0, result.stderr
    for text in ("model: str", "tile: int | str = 512", "overlap: int = 32",
                 "scale: int | None = None", "force-tiling: bool = False",
                 'dtype: str = "float32"', "model-offload: bool = False",
                 "chaiNNer-compatible", "cross-faded"):
        assert text in result.stdout, text
    assert "context" not in result.stdout.split("Upscale an image")[0]


def test_listing_and_help_do_not_import_torch() -> None:
    assert_import_light(["--image-processor-help"], forbidden=("torch", "spandrel"))
    assert_import_light(["--image-processor-help", "upscaler"], forbidden=("torch", "spandrel"))
