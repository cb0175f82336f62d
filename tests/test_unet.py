"""--unet and --second-model-unet: every kind of UNet source, loaded offline into tiny models
through the command line.

Another UNet changes the picture; the model's own UNet weights, however given (its
subfolder, a file in either key layout, inside a whole-model checkpoint), give the
picture of no --unet, bit for bit; one UNet given to two models loads once; every
mistake is one clear error naming the URI.
"""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.render.loop import render
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .source_fixtures import FileServer, serve
from .support import BUILTIN_ONLY, MEDIA, render_ok
from .tiny_submodels import build_combined_sd_file, build_unet_file, build_unet_folder


@dataclasses.dataclass(frozen=True)
class Unets:
    other: Path  # a folder: fits tiny_sd, weights unlike its own UNet
    other_file: Path  # the same weights, one .safetensors file in the diffusers layout
    other_ldm: Path  # the same weights, a .ckpt pickle in the original layout
    other_whole: Path  # the same weights under the key prefix unet. (a whole-model file)
    own_file: Path  # tiny_sd's own UNet as one file
    own_whole: Path  # tiny_sd as one original-layout checkpoint (UNet, VAE, text encoder)
    fp16_only: Path  # the other weights saved as the fp16 variant only
    sdxl: Path  # a folder: fits tiny_sdxl
    sdxl_file: Path  # the same weights as one file
    own_sdxl_file: Path  # tiny_sdxl's own UNet as one file
    refiner: Path  # a folder: fits tiny_sdxl_refiner


@pytest.fixture(scope="module")
def unets(tiny_sd: Path, tiny_sdxl: Path, tiny_sdxl_refiner: Path, tiny_unet: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Unets:
    root = tmp_path_factory.mktemp("unet-sources")
    sdxl = build_unet_folder(tiny_sdxl, root / "sdxl", seed=12)
    return Unets(
        other=tiny_unet,
        other_file=build_unet_file(tiny_unet, root / "other.safetensors"),
        other_ldm=build_unet_file(tiny_unet, root / "other-ldm.ckpt", layout="ldm"),
        other_whole=build_unet_file(tiny_unet, root / "other-whole.safetensors",
                                    prefix="unet."),
        own_file=build_unet_file(tiny_sd / "unet", root / "own.safetensors"),
        own_whole=build_combined_sd_file(tiny_sd, tiny_sd / "vae",
                                         root / "own-whole.safetensors"),
        fp16_only=build_unet_folder(tiny_sd, root / "fp16-only", variant="fp16"),
        sdxl=sdxl,
        sdxl_file=build_unet_file(sdxl, root / "sdxl.safetensors"),
        own_sdxl_file=build_unet_file(tiny_sdxl / "unet", root / "own-sdxl.safetensors",
                                      layout="ldm"),
        refiner=build_unet_folder(tiny_sdxl_refiner, root / "refiner", seed=13))


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def picture(out: Path) -> np.ndarray:
    (path,) = sorted(out.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


COMMON = ("--seeds", "1", "--prompts", "a horse")
SDXL = ("--model-type", "sdxl", "--output-size", "64")  # (its default size is 1024)


def rendered(model: Path, out: Path, *args: str) -> np.ndarray:
    render_ok(model, out, *COMMON, *args)
    return picture(out)


def failure(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli(*args, env={**BUILTIN_ONLY, **(env or {})})
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


# ------------------------------------------------------------------- sources


def test_every_source_of_one_unet_gives_one_picture(tiny_sd: Path, unets: Unets,
                                                    tmp_path: Path, server: FileServer) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    folder = rendered(tiny_sd, tmp_path / "folder", "--unet", str(unets.other))
    assert not np.array_equal(plain, folder)
    for name, uri in {"file": str(unets.other_file),
                      "ldm": f"{unets.other_ldm};dtype=float32",
                      "whole": str(unets.other_whole),
                      "prefix": f"{unets.other_whole};subfolder=unet"}.items():
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "--unet", uri), folder), name
    url = server.add("/unets/other.safetensors", unets.other_file)
    cache = {"DGENERATE_CACHE": str(tmp_path / "cache")}
    result = run_cli(str(tiny_sd), "--output-path", str(tmp_path / "url"), "--inference-steps",
                     "2", *COMMON, "--unet", url, env={**BUILTIN_ONLY, **cache})
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(picture(tmp_path / "url"), folder)
    assert server.hits["/unets/other.safetensors"] == 1


def test_the_models_own_unet_weights_change_nothing(tiny_sd: Path, unets: Unets,
                                                    tmp_path: Path) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    for name, uri in {"subfolder": f"{tiny_sd};subfolder=unet",
                      "file": str(unets.own_file),
                      "whole": str(unets.own_whole),
                      "ldm-prefix": f"{unets.own_whole};subfolder=model.diffusion_model",
                      "variant": f"{unets.fp16_only};variant=fp16"}.items():
        expected = plain if name != "variant" else rendered(
            tiny_sd, tmp_path / "other", "--unet", str(unets.other))
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "--unet", uri), expected), name


def test_variants_follow_the_model(tiny_sd: Path, unets: Unets, tmp_path: Path) -> None:
    other = rendered(tiny_sd, tmp_path / "other", "--unet", str(unets.other))
    # --variant fp16: the fp16-only folder gives that variant, the other (no fp16 files)
    # falls back to its plain weights, as the model itself does; variant=null asks for those
    for name, uri in {"inherited": str(unets.fp16_only), "fallback": str(unets.other),
                      "null": f"{unets.other};variant=null"}.items():
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "--variant", "fp16",
                                       "--unet", uri), other), name


def test_sdxl(tiny_sdxl: Path, unets: Unets, tmp_path: Path) -> None:
    plain = rendered(tiny_sdxl, tmp_path / "plain", *SDXL)
    own = rendered(tiny_sdxl, tmp_path / "own", *SDXL, "--unet", str(unets.own_sdxl_file))
    other = rendered(tiny_sdxl, tmp_path / "other", *SDXL, "--unet", str(unets.sdxl))
    other_file = rendered(tiny_sdxl, tmp_path / "other-file", *SDXL, "--unet",
                          f"{unets.sdxl_file};dtype=auto")
    assert np.array_equal(own, plain) and not np.array_equal(other, plain)
    assert np.array_equal(other_file, other)


def test_the_sdxl_refiner_takes_a_unet(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                       unets: Unets, tmp_path: Path) -> None:
    refined = (*SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner))
    plain = rendered(tiny_sdxl, tmp_path / "plain", *refined)
    own = rendered(tiny_sdxl, tmp_path / "own", *refined, "-un2",
                   f"{tiny_sdxl_refiner};subfolder=unet")
    other = rendered(tiny_sdxl, tmp_path / "other", *refined, "--second-model-unet",
                     str(unets.refiner))
    assert np.array_equal(own, plain) and not np.array_equal(other, plain)
    stderr = failure(str(tiny_sdxl), *refined, *COMMON, "-un2", str(unets.sdxl),
                     "--inference-steps", "1", "--output-path", str(tmp_path / "base"))
    assert f"--second-model-unet {str(unets.sdxl)!r}: this UNet does not fit the sdxl " \
           "refiner model" in stderr
    stderr = failure(str(tiny_sdxl), *SDXL, "-un2", str(unets.refiner), "--dry-run",
                     "--output-path", str(tmp_path))
    assert "--second-model-unet" in stderr and "--sdxl-refiner" in stderr


@pytest.mark.parametrize(("fixture", "args"), [
    ("tiny_pix2pix", ("--model-type", "pix2pix", "--image-seeds", f"{MEDIA / 'horse1.jpg'};64")),
    ("tiny_upscaler_x4", ("--model-type", "upscaler-x4", "--image-seeds",
                          f"{MEDIA / 'horse1.jpg'};resize=16x16;aspect=false")),
    ("tiny_kolors", ("--model-type", "kolors", "--output-size", "64")),
])
def test_other_families_take_a_unet(request: pytest.FixtureRequest, fixture: str,
                                    args: tuple[str, ...], tmp_path: Path) -> None:
    model: Path = request.getfixturevalue(fixture)
    plain = rendered(model, tmp_path / "plain", *args)
    own = rendered(model, tmp_path / "own", *args, "--unet", f"{model};subfolder=unet")
    other = build_unet_folder(model, tmp_path / "unet", seed=21)
    changed = rendered(model, tmp_path / "other", *args, "--unet", str(other))
    assert np.array_equal(own, plain) and not np.array_equal(changed, plain)


# ------------------------------------------------------ configs and caching


def test_written_configs_reproduce_the_picture(tiny_sd: Path, unets: Unets,
                                               tmp_path: Path) -> None:
    uri = f"{unets.other_file};dtype=float32"
    first = rendered(tiny_sd, tmp_path / "first", "--unet", uri, "--output-configs")
    config = next((tmp_path / "first").glob("*.dgen"))
    assert f"--unet '{uri}'" in config.read_text()
    replay = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"),
                     env=BUILTIN_ONLY)
    assert replay.exit_code == 0, replay.stderr
    assert np.array_equal(picture(tmp_path / "again"), first)


def render_in(context: KernelContext, model: Path, out: Path, *args: str) -> np.ndarray:
    parser = build_parser(context.manager)
    arguments = [str(model), *args, *COMMON, "--inference-steps", "2", "--output-path", str(out)]
    render(context, make_plan(context, parser, parser.parse_args(arguments)))
    return picture(out)


def test_one_unet_loads_once_for_two_models(tiny_sd: Path, unets: Unets,
                                            tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_sd, tmp_path / "tiny-sd-copy")
    context = KernelContext(isolated_plugin_manager())
    # a folder, and a file (it takes the configuration of the models' UNets: the same)
    for uri in (unets.other, unets.other_file):
        for model in (tiny_sd, copy):
            render_in(context, model, tmp_path / f"{model.name}-{uri.name}", "--unet",
                      str(uri))
    cache = context.cache("unet")
    assert (cache.misses, len(cache)) == (2, 2)
    pipelines = [entry.value for entry in context.cache("pipeline")._entries.values()]
    assert len({id(pipeline) for pipeline in pipelines}) == 4
    assert pipelines[0].unet is pipelines[1].unet and pipelines[2].unet is pipelines[3].unet
    assert pipelines[0].unet is not pipelines[2].unet


def test_loras_are_fused_into_a_copy_of_the_unet(tiny_sd: Path, unets: Unets,
                                                 tiny_sd_loras: dict[str, Path],
                                                 tmp_path: Path) -> None:
    pytest.importorskip("peft")
    alone = rendered(tiny_sd, tmp_path / "alone", "--unet", str(unets.other))
    context = KernelContext(isolated_plugin_manager())
    with_lora = render_in(context, tiny_sd, tmp_path / "lora", "--unet", str(unets.other),
                          "--loras", str(tiny_sd_loras["unet_only"]))
    copy = shutil.copytree(tiny_sd, tmp_path / "tiny-sd-copy")
    after = render_in(context, copy, tmp_path / "after", "--unet", str(unets.other))
    assert not np.array_equal(with_lora, alone)
    assert np.array_equal(after, alone)  # the cached UNet has no LoRA in it


QUANTIZER = '''
from typing import Annotated

from dgenerate.plugin_api import Arg, Quantizer, QuantizerSpec, hookimpl


class Int8(Quantizer):
    """SDNQ int8 weights, even for the tiny model's small layers."""

    def __init__(self, device: Annotated[str, Arg(hidden=True)] = ""):
        self.device = device

    def diffusers_config(self):
        from diffusers import SDNQConfig

        return SDNQConfig(weights_dtype="int8", minimum_allowed_numel=0,
                          minimum_allowed_channel_size=0)

    def transformers_config(self):
        return None


@hookimpl
def dgenerate_quantizers():
    yield QuantizerSpec(name="int8", summary="SDNQ int8.", target=":Int8")
'''


def test_a_quantizer_for_the_unet_alone(tiny_sd: Path, unets: Unets, tmp_path: Path) -> None:
    pytest.importorskip("sdnq")
    plugin = tmp_path / "int8.py"
    plugin.write_text(textwrap.dedent(QUANTIZER))
    other = rendered(tiny_sd, tmp_path / "other", "--unet", str(unets.other))
    env = {**BUILTIN_ONLY, "SDNQ_USE_TORCH_COMPILE": "0", "SDNQ_USE_OPENVINO_MM": "0"}
    base = ("--plugin-modules", str(plugin), str(tiny_sd), *COMMON, "--inference-steps", "2")
    result = run_cli(*base, "--unet", f"{unets.other};quantizer=int8", "--output-path",
                     str(tmp_path / "int8"), env=env)
    assert result.exit_code == 0, result.stderr
    quantized = picture(tmp_path / "int8").astype(int)
    # int8 weights: close to the unquantized UNet's picture, yet not the same
    assert not np.array_equal(quantized, other) and np.abs(quantized - other).mean() < 8
    stderr = failure(*base, "--unet", f"{unets.other_file};quantizer=int8", "--dry-run",
                     "--output-path", str(tmp_path), env=env)
    assert "a single-file UNet cannot be quantized while it loads" in stderr


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(("uri", "mentions"), [
    ("{folder};revison=2", ("no argument 'revison'", "did you mean 'revision'")),
    ("{folder};dtype=float8", ("'dtype'", "float8")),
    ("{file};variant=fp16", ("is a single file, which takes only the arguments subfolder",
                             "not variant")),
    ("{file};revision=v2", ("not revision",)),
    ("missing.safetensors", ("'missing.safetensors' does not exist",)),
    ("{tmp}/no-such-unet", ("no-such-unet' does not exist",)),
    ("{folder};quantizer=nothing", ("quantizer='nothing'", "unknown quantizer 'nothing'")),
    ("{file};quantizer=nothing", ("a single-file UNet cannot be quantized",)),
])
def test_mistakes_are_refused_before_loading(tiny_sd: Path, unets: Unets, tmp_path: Path,
                                             uri: str, mentions: tuple[str, ...]) -> None:
    uri = uri.format(file=unets.other_file, folder=unets.other, tmp=tmp_path)
    stderr = failure(str(tiny_sd), "--unet", uri, "--dry-run", "--output-path", str(tmp_path))
    assert "--unet" in stderr and uri in stderr
    for text in mentions:
        assert text in stderr


@pytest.mark.parametrize(("uri", "mentions"), [
    ("{sdxl}", ("this UNet does not fit the sd model", "cross_attention_dim is 64",
                "the model's own UNet's is 32")),
    ("{sdxl_file}", ("does not fit the sd model", "has the shape")),
    ("{tiny_sd}", ("not a diffusers UNet folder", "add subfolder=unet")),
    ("{tiny_sd};subfolder=nothing", ("has no subfolder 'nothing'",)),
    ("{tiny_sd};subfolder=vae", ("holds a model of the class AutoencoderKL, not "
                                      "UNet2DConditionModel",)),
    ("{other};variant=fp16", ("no weights of the variant 'fp16'", "variant=null")),
    ("{fp16_only}", ("has only the weights of the variant 'fp16'", "give variant=fp16")),
    ("{other_whole};subfolder=nothing", ("no weights under the key prefix 'nothing.'",
                                         "its keys start with 'unet'")),
    ("{own_whole};subfolder=first_stage_model", ("holds no weights of the UNet",)),
    ("nobody/no-unet", ("'nobody/no-unet'", "not in the local Hugging Face cache",
                        "offline mode forbids")),
])
def test_what_cannot_load_is_said_clearly(tiny_sd: Path, unets: Unets, tmp_path: Path,
                                          uri: str, mentions: tuple[str, ...]) -> None:
    uri = uri.format(tiny_sd=tiny_sd, **{field.name: getattr(unets, field.name)
                                         for field in dataclasses.fields(unets)})
    stderr = failure(str(tiny_sd), "--unet", uri, "--offline-mode", "--inference-steps", "1",
                     "--output-path", str(tmp_path))
    assert f"--unet {uri!r}" in stderr
    for text in mentions:
        assert text in stderr


def test_a_single_file_unet_for_a_single_file_model_needs_its_configuration(
        unets: Unets, tmp_path: Path) -> None:
    stderr = failure(str(unets.own_whole), "--unet", str(unets.other_file), "--offline-mode",
                     "--inference-steps", "1", "--output-path", str(tmp_path))
    assert f"--unet {str(unets.other_file)!r}: a single-file UNet takes the configuration of " \
           "the model's own UNet" in stderr
    assert "is a single file too" in stderr and "give the UNet as a diffusers folder" in stderr
