"""--t2i-adapters and --sdxl-t2i-adapter-factors, through the command line, on tiny models.

The tiny adapters (tests/tiny_t2i_adapter.py) fit tiny_sd and tiny_sdxl. A T2I adapter
at scale 0 adds nothing, so its picture is the one of no adapter, bit for bit; every way
of giving one adapter (folder, single file in either key layout, URL, repository, blob
link) gives one picture; two adapters at scales 1 and 0 give the picture of the first
alone. Every mistake is one clear error before anything loads where possible.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.render.loop import render
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve
from .support import BUILTIN_ONLY, render_ok
from .tiny_t2i_adapter import adapter_file, build_t2i_adapter


@dataclasses.dataclass(frozen=True)
class Adapters:
    sd: Path  # a folder fitting tiny_sd
    sd_other: Path  # another one, other weights
    sd_file: Path  # `sd` as one .safetensors file in diffusers' layout, no config.json
    sd_original: Path  # `sd` as a .pth pickle in TencentARC's original layout
    sd_grey: Path  # an adapter taking grey control images (one channel)
    xl: Path  # a folder fitting tiny_sdxl
    xl_other: Path
    xl_file: Path  # `xl` as one file, keys without the adapter. prefix
    edges: Path  # a 64x64 control image
    shapes: Path  # another one


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> Adapters:
    root = tmp_path_factory.mktemp("t2i-adapters")
    sd, xl = build_t2i_adapter(root / "sd"), build_t2i_adapter(root / "xl", xl=True)
    images = []
    for name, draw_shape in (("edges", "rectangle"), ("shapes", "ellipse")):
        image = Image.new("RGB", (64, 64))
        getattr(ImageDraw.Draw(image), draw_shape)((12, 16, 52, 44), outline="white", width=3)
        image.save(root / f"{name}.png")
        images.append(root / f"{name}.png")
    return Adapters(
        sd=sd, sd_other=build_t2i_adapter(root / "sd-other", seed=1),
        sd_file=adapter_file(sd, root / "files" / "sd.safetensors"),
        sd_original=adapter_file(sd, root / "files" / "sd-original.pth", layout="original"),
        sd_grey=adapter_file(build_t2i_adapter(root / "grey", seed=2, in_channels=1),
                             root / "files" / "grey.safetensors"),
        xl=xl, xl_other=build_t2i_adapter(root / "xl-other", xl=True, seed=1),
        xl_file=adapter_file(xl, root / "files" / "xl.safetensors", layout="bare"),
        edges=images[0], shapes=images[1])


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


COMMON = ("--seeds", "1", "--prompts", "a red square", "--output-size", "64")
SDXL = ("--model-type", "sdxl")


def pictures(out: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(out.glob("*.png")):
        with Image.open(path) as image:
            found[path.name] = np.asarray(image.convert("RGB"))
    return found


def rendered(model: Path, out: Path, *args: str) -> np.ndarray:
    render_ok(model, out, *COMMON, *args)
    (picture,) = pictures(out).values()
    return picture


def failure(*args: str) -> str:
    result = run_cli(*args, env=BUILTIN_ONLY)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


# ------------------------------------------------------------------- sd


@pytest.fixture(scope="module")
def sd_pictures(tiny_sd: Path, adapters: Adapters,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """tiny_sd's pictures of COMMON: ``plain`` (no adapter), ``first`` (the `sd` adapter on
    the edges image) and ``other`` (the `sd_other` adapter)."""
    root = tmp_path_factory.mktemp("sd-pictures")
    seeds = ("--image-seeds", str(adapters.edges))
    return {"plain": rendered(tiny_sd, root / "plain"),
            "first": rendered(tiny_sd, root / "first", "--t2i-adapters", str(adapters.sd),
                              *seeds),
            "other": rendered(tiny_sd, root / "other", "-t2i", str(adapters.sd_other), *seeds)}


def test_sd_adapter_steers_and_scale_zero_changes_nothing(
        tiny_sd: Path, adapters: Adapters, sd_pictures: dict[str, np.ndarray],
        tmp_path: Path) -> None:
    assert not np.array_equal(sd_pictures["first"], sd_pictures["plain"])
    assert not np.array_equal(sd_pictures["first"], sd_pictures["other"])
    zero = rendered(tiny_sd, tmp_path / "zero", "-t2i", f"{adapters.sd};scale=0",
                    "--image-seeds", str(adapters.edges))
    assert np.array_equal(zero, sd_pictures["plain"])
    # an adapter of grey images (one input channel) gets the control image in grey
    grey = rendered(tiny_sd, tmp_path / "grey", "-t2i", str(adapters.sd_grey),
                    "--image-seeds", str(adapters.edges))
    assert not np.array_equal(grey, sd_pictures["plain"])


def test_every_source_of_one_adapter_gives_one_picture(
        tiny_sd: Path, adapters: Adapters, sd_pictures: dict[str, np.ndarray], tmp_path: Path,
        server: FileServer) -> None:
    seeds = ("--image-seeds", str(adapters.edges))
    folder = sd_pictures["first"]
    for name, uri in {"file": f"{adapters.sd_file};scale=1.0",
                      "original": f"{adapters.sd_original};dtype=float32"}.items():
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "-t2i", uri, *seeds),
                              folder), name
    url = server.add("/adapters/sd.safetensors", adapters.sd_file)
    result = run_cli(str(tiny_sd), "--output-path", str(tmp_path / "url"), "--inference-steps",
                     "2", *COMMON, "-t2i", url, *seeds,
                     env={**BUILTIN_ONLY, "DGENERATE_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(next(iter(pictures(tmp_path / "url").values())), folder)
    assert server.hits["/adapters/sd.safetensors"] == 1


@pytest.fixture
def hub(adapters: Adapters, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A Hugging Face cache holding ``tester/t2i``: on ``main`` the `sd` adapter in the
    subfolder canny (also as an fp16 variant: the `sd_other` weights) and as the file
    sd.safetensors; on ``dev`` the `sd_other` adapter under the same names."""
    from huggingface_hub import constants

    other_file = adapter_file(adapters.sd_other, tmp_path / "other.safetensors")
    weights = "diffusion_pytorch_model.safetensors"
    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/t2i", {
        "main": {"canny/config.json": adapters.sd / "config.json",
                 f"canny/{weights}": adapters.sd / weights,
                 "canny/diffusion_pytorch_model.fp16.safetensors": adapters.sd_other / weights,
                 "sd.safetensors": adapters.sd_file},
        "dev": {"canny/config.json": adapters.sd_other / "config.json",
                f"canny/{weights}": adapters.sd_other / weights,
                "sd.safetensors": other_file}})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return "tester/t2i"


def test_repositories_variants_and_blob_links(tiny_sd: Path, adapters: Adapters,
                                              sd_pictures: dict[str, np.ndarray],
                                              tmp_path: Path, hub: str) -> None:
    seeds = ("--image-seeds", str(adapters.edges), "--offline-mode")
    first, other = sd_pictures["first"], sd_pictures["other"]
    link = f"https://huggingface.co/{hub}/blob/main/sd.safetensors"
    for name, uri, expected in (
            ("repository", f"{hub};subfolder=canny", first),
            ("revision", f"{hub};subfolder=canny;revision=dev", other),
            ("variant", f"{hub};subfolder=canny;variant=fp16", other),
            ("link", link, first),
            ("link-revision", f"{link};revision=dev", other)):
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "-t2i", uri, *seeds),
                              expected), name


def test_two_adapters(tiny_sd: Path, adapters: Adapters, sd_pictures: dict[str, np.ndarray],
                      tmp_path: Path) -> None:
    seeds = ("--image-seeds", f"{adapters.edges}, {adapters.shapes}")
    alone = sd_pictures["first"]
    both = rendered(tiny_sd, tmp_path / "both", "-t2i", str(adapters.sd),
                    str(adapters.sd_other), *seeds)
    # the second at scale 0 adds nothing: the first alone, bit for bit
    muted = rendered(tiny_sd, tmp_path / "muted", "-t2i", str(adapters.sd),
                     f"{adapters.sd_other};scale=0", *seeds)
    assert not np.array_equal(both, alone) and np.array_equal(muted, alone)
    # a batch gets the control images for every image
    render_ok(tiny_sd, tmp_path / "batch", *COMMON, "-t2i", str(adapters.sd),
              str(adapters.sd_other), *seeds, "--batch-size", "2")
    first, second = pictures(tmp_path / "batch").values()
    # (a batch computes in other float orders: equal up to rounding)
    assert np.abs(first.astype(int) - both).max() <= 2 and not np.array_equal(first, second)


# ------------------------------------------------------------------- sdxl


def test_sdxl_adapters_and_factors(tiny_sdxl: Path, adapters: Adapters, tmp_path: Path) -> None:
    seeds = ("--image-seeds", str(adapters.edges))
    plain = rendered(tiny_sdxl, tmp_path / "plain", *SDXL)
    steered = rendered(tiny_sdxl, tmp_path / "one", *SDXL, "-t2i", str(adapters.xl), *seeds)
    single = rendered(tiny_sdxl, tmp_path / "file", *SDXL, "-t2i", str(adapters.xl_file), *seeds)
    assert not np.array_equal(steered, plain) and np.array_equal(single, steered)
    render_ok(tiny_sdxl, tmp_path / "factors", *COMMON, *SDXL, "-t2i", str(adapters.xl),
              *seeds, "--sdxl-t2i-adapter-factors", "0", "1")
    found = pictures(tmp_path / "factors")
    names = sorted(found)
    assert len(names) == 2 and "t2if_0-0" in names[0] and "t2if_1-0" in names[1], names
    # no step with the adapter: the picture of none; every step: the default
    assert np.array_equal(found[names[0]], plain) and np.array_equal(found[names[1]], steered)
    both = rendered(tiny_sdxl, tmp_path / "both", *SDXL, "-t2i", str(adapters.xl),
                    f"{adapters.xl_other};scale=0.5", "--image-seeds",
                    f"{adapters.edges}, {adapters.shapes}")
    assert not np.array_equal(both, steered)


# ------------------------------------------------------ configs and caching


def test_written_configs_reproduce_the_picture(tiny_sdxl: Path, adapters: Adapters,
                                               tmp_path: Path) -> None:
    first = tmp_path / "first"
    render_ok(tiny_sdxl, first, *COMMON, *SDXL, "-t2i", f"{adapters.xl};scale=0.7",
              "--image-seeds", str(adapters.edges), "--sdxl-t2i-adapter-factors", "0.5",
              "--output-configs")
    config = next(first.glob("*.dgen"))
    text = config.read_text()
    assert f"--t2i-adapters '{adapters.xl};scale=0.7'" in text, text
    assert "--sdxl-t2i-adapter-factors 0.5" in text, text
    replay = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"),
                     env=BUILTIN_ONLY)
    assert replay.exit_code == 0, replay.stderr
    (again,) = pictures(tmp_path / "again").values()
    (picture,) = pictures(first).values()
    assert np.array_equal(again, picture)


def test_adapters_load_once_and_scales_share_a_pipeline(tiny_sd: Path, adapters: Adapters,
                                                       tmp_path: Path) -> None:
    context = KernelContext(isolated_plugin_manager())
    for number, scale in enumerate(("1.0", "0.5")):
        parser = build_parser(context.manager)
        arguments = [str(tiny_sd), *COMMON, "-t2i", f"{adapters.sd};scale={scale}",
                     "--image-seeds", str(adapters.edges), "--inference-steps", "1",
                     "--output-path", str(tmp_path / str(number))]
        render(context, make_plan(context, parser, parser.parse_args(arguments)))
    cache = context.cache("t2i_adapter")
    assert (cache.misses, len(cache)) == (1, 1)
    (adapter,) = (entry.value for entry in cache._entries.values())
    pipelines = [entry.value for entry in context.cache("pipeline")._entries.values()]
    adapted = [pipeline for pipeline in pipelines if hasattr(pipeline, "adapter")]
    assert len(adapted) == 1 and adapted[0].adapter is adapter
    assert len(pictures(tmp_path / "0")) == len(pictures(tmp_path / "1")) == 1


# ------------------------------------------------------------------- errors


def test_img2img_and_inpaint_are_refused(tiny_sd: Path, adapters: Adapters,
                                         tmp_path: Path) -> None:
    image = str(adapters.shapes)
    for seed, mode in ((f"{image};control={adapters.edges}", "img2img"),
                       (f"{image};mask={image};control={adapters.edges}", "inpaint")):
        stderr = failure(str(tiny_sd), "-t2i", str(adapters.sd), "--image-seeds", seed,
                         "--output-path", str(tmp_path))
        assert "--t2i-adapters" in stderr and "txt2img" in stderr and mode in stderr, stderr
        assert 'give the control images alone: --image-seeds "control.png"' in stderr


def test_control_image_count_must_match(tiny_sd: Path, adapters: Adapters,
                                        tmp_path: Path) -> None:
    stderr = failure(str(tiny_sd), "-t2i", str(adapters.sd), str(adapters.sd_other),
                     "--image-seeds", str(adapters.edges), "--output-path", str(tmp_path))
    assert "--t2i-adapters" in stderr and "1 control image" in stderr and "2" in stderr
    stderr = failure(str(tiny_sd), "-t2i", str(adapters.sd), "--output-path", str(tmp_path))
    assert "--t2i-adapters" in stderr and "control image" in stderr


@pytest.mark.parametrize(("args", "mentions"), [
    (("-t2i", "{sd};revison=main"), ("--t2i-adapters '{sd};revison=main'", "no argument "
                                     "'revison'", "did you mean 'revision'")),
    (("-t2i", "{sd_file};subfolder=x;variant=fp16"), (
        "is a single weights file, which takes only the arguments scale and dtype",
        "not variant, subfolder")),
    (("-t2i", "http://127.0.0.1:9/a.safetensors;revision=v1"), (
        "a URL of a weights file, which takes only the arguments scale and dtype",
        "not revision")),
    (("-t2i", "{sd};scale=strong"), ("'scale'", "strong")),
    (("-t2i", "{sd};scale=nan"), ("scale must be a finite number",)),
    (("-t2i", "{sd};dtype=float8"), ("'dtype'", "float8")),
    (("-t2i", "{sd};subfolder=nothing"), ("has no subfolder 'nothing'",)),
    (("-t2i", "missing.safetensors"), ("'missing.safetensors' does not exist",)),
    (("-t2i", "{root}"), ("is not a diffusers T2I adapter folder", "'sd', 'sd-other'",
                          "have one (add subfolder=)")),
    (("-t2i", "{sd};dtype=float32", "{sd_other}", "--image-seeds", "{edges}, {shapes}"), (
        "adapters used together must have one dtype", "'{sd};dtype=float32' (float32)",
        "'{sd_other}' (--dtype)")),
    (("-t2i", "{sd}", "--control-nets", "{sd}"), ("cannot be used together",)),
    (("-t2i", "{sd}", "--sdxl-t2i-adapter-factors", "0.5"), (
        "--sdxl-t2i-adapter-factors does not apply to --model-type sd",)),
    (("-t2i", "{sd}", "--model-type", "kolors"), (
        "--t2i-adapters does not apply to --model-type kolors",)),
    (("--model-type", "sdxl", "--sdxl-t2i-adapter-factors", "0.5"), (
        "--sdxl-t2i-adapter-factors needs --t2i-adapters",)),
    (("--model-type", "sdxl", "-t2i", "{xl}", "--sdxl-t2i-adapter-factors", "1.5"), (
        "--sdxl-t2i-adapter-factors", "'1.5' must be from 0 to 1")),
])
def test_mistakes_are_refused_before_loading(tiny_sd: Path, adapters: Adapters, tmp_path: Path,
                                             args: tuple[str, ...],
                                             mentions: tuple[str, ...]) -> None:
    names = {field.name: getattr(adapters, field.name) for field in dataclasses.fields(adapters)}
    names["root"] = adapters.sd.parent
    args = tuple(arg.format(**names) for arg in args)
    seeds = ("--image-seeds", str(adapters.edges))
    if "kolors" in args or "--image-seeds" in args:
        seeds = ()  # (kolors takes no control images: that would be refused first)
    stderr = failure(str(tiny_sd), *args, *seeds, "--dry-run", "--output-path", str(tmp_path))
    for text in mentions:
        assert text.format(**names) in stderr, stderr


@pytest.mark.parametrize(("model", "uri", "mentions"), [
    ("sd", "{xl}", ("this is a T2I adapter for Stable Diffusion XL (full_adapter_xl)",
                    "--model-type sd needs one made for Stable Diffusion 1.x/2.x")),
    ("sdxl", "{sd_original}", ("a T2I adapter for Stable Diffusion 1.x/2.x (full_adapter)",
                               "--model-type sdxl")),
    ("sd", "{tiny_sd}/vae", ("holds a AutoencoderKL, not a T2IAdapter",)),
    ("sd", "{sd};variant=fp16", ("no weights of the variant 'fp16'",)),
    ("sd", "nobody/no-adapter", ("'nobody/no-adapter'", "not in the local Hugging Face cache",
                                 "offline mode forbids")),
    ("sd", "{tiny_sd}/vae/diffusion_pytorch_model.safetensors", (
        "holds no T2I adapter weights",)),
])
def test_what_cannot_load_is_said_clearly(tiny_sd: Path, tiny_sdxl: Path, adapters: Adapters,
                                          tmp_path: Path, model: str, uri: str,
                                          mentions: tuple[str, ...]) -> None:
    names = {field.name: getattr(adapters, field.name) for field in dataclasses.fields(adapters)}
    uri = uri.format(tiny_sd=tiny_sd, **names)
    path, extra = (tiny_sd, ()) if model == "sd" else (tiny_sdxl, SDXL)
    stderr = failure(str(path), *extra, "-t2i", uri, "--image-seeds", str(adapters.edges),
                     "--offline-mode", "--inference-steps", "1", "--output-size", "64",
                     "--output-path", str(tmp_path))
    assert f"--t2i-adapters {uri!r}" in stderr, stderr
    for text in mentions:
        assert text in stderr, stderr


def test_a_size_the_adapter_cannot_divide(tiny_sd: Path, adapters: Adapters,
                                          tmp_path: Path) -> None:
    stderr = failure(str(tiny_sd), "-t2i", str(adapters.sd), "--image-seeds",
                     str(adapters.edges), "--output-size", "72", "--inference-steps", "1",
                     "--output-path", str(tmp_path))
    assert "needs an image size that is a multiple of 16" in stderr and "72x72" in stderr


def test_a_wrong_single_file_is_said_clearly(tiny_sd: Path, adapters: Adapters,
                                             tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    shutil.copyfile(adapters.sd_file, broken)
    broken.write_bytes(broken.read_bytes()[:100])
    stderr = failure(str(tiny_sd), "-t2i", str(broken), "--image-seeds", str(adapters.edges),
                     "--inference-steps", "1", "--output-size", "64", "--output-path",
                     str(tmp_path / "out"))
    assert f"--t2i-adapters {str(broken)!r}" in stderr and "cannot be read" in stderr


# ------------------------------------------------------------ single files, directly


def _same_weights(first, second) -> bool:
    left, right = first.state_dict(), second.state_dict()
    return left.keys() == right.keys() and all(
        bool((left[key] == right[key]).all()) for key in left)


def test_single_files_of_every_adapter_type(adapters: Adapters, tmp_path: Path) -> None:
    import torch
    from diffusers import T2IAdapter
    from safetensors.torch import save_file

    from dgenerate.plugins_builtin.submodels.t2i_adapter.loader import load_single_file

    torch.manual_seed(3)
    light = T2IAdapter(in_channels=3, channels=[16, 32], num_res_blocks=2, downscale_factor=8,
                       adapter_type="light_adapter")
    state = {key: value.contiguous() for key, value in light.state_dict().items()}
    original = {key.removeprefix("adapter.").replace(".resnets.", ".body."): value
                for key, value in state.items()}
    save_file(state, tmp_path / "light.safetensors")
    torch.save(original, tmp_path / "light-original.pt")
    for name in ("light.safetensors", "light-original.pt"):
        loaded = load_single_file(str(tmp_path / name), dtype=torch.float32)
        assert loaded.config.adapter_type == "light_adapter", name
        assert list(loaded.config.channels) == [16, 32] and loaded.config.num_res_blocks == 2
        assert _same_weights(loaded, light), name
    grey = load_single_file(str(adapters.sd_grey), dtype=torch.float16)
    assert (grey.config.in_channels, grey.config.downscale_factor) == (1, 8)
    assert grey.dtype == torch.float16
    xl = load_single_file(str(adapters.xl_file), dtype=torch.float32)
    assert (xl.config.adapter_type, xl.config.downscale_factor) == ("full_adapter_xl", 16)
    assert _same_weights(xl, T2IAdapter.from_pretrained(adapters.xl))


def test_a_config_beside_the_file_is_used_when_it_fits(adapters: Adapters,
                                                       tmp_path: Path) -> None:
    import json

    import torch

    from dgenerate.plugins_builtin.submodels.t2i_adapter.loader import load_single_file

    # an SD-shaped adapter (unshuffle 8) whose config.json says it is the XL type: the
    # shapes alone would say full_adapter
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copyfile(adapters.sd_file, folder / "adapter.safetensors")
    config = json.loads((adapters.sd / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config,
                                                    "adapter_type": "full_adapter_xl"}))
    assert load_single_file(str(folder / "adapter.safetensors"),
                            dtype=torch.float32).config.adapter_type == "full_adapter_xl"
    # a config.json of another adapter: the shapes decide
    (folder / "config.json").write_text(json.dumps({**config, "channels": [8, 8]}))
    assert load_single_file(str(folder / "adapter.safetensors"),
                            dtype=torch.float32).config.adapter_type == "full_adapter"


def test_original_architectures_diffusers_lacks_are_refused(tmp_path: Path) -> None:
    import torch

    from dgenerate.plugin_api import DgenerateError
    from dgenerate.plugins_builtin.submodels.t2i_adapter.loader import load_single_file

    weights = {"conv_in.weight": torch.zeros(8, 192, 3, 3),
               "body.0.block1.weight": torch.zeros(8, 8, 3, 3),
               "body.0.skep.weight": torch.zeros(8, 8, 3, 3)}
    torch.save(weights, tmp_path / "skip.pth")
    with pytest.raises(DgenerateError, match="skip or strided convolutions"):
        load_single_file(str(tmp_path / "skip.pth"), dtype=torch.float32)
