"""--control-nets: ControlNets from folders, single files and URLs guiding tiny SD and SDXL
models through the command line, in txt2img, img2img and inpainting.

A ControlNet changes the picture and scale=0 gives the picture of no ControlNet, bit for bit;
every source of one ControlNet gives one picture; union ControlNets take their control modes
by name or number; one ControlNet given to two pipelines loads once; every mistake is one
clear error naming the URI.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.render.loop import render
from dgenerate.plugin_api.testing import CliResult, isolated_plugin_manager, run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve
from .support import BUILTIN_ONLY as ENV
from .support import MEDIA, names
from .tiny_controlnet import build_controlnet_file, build_controlnet_folder

HORSE = str(MEDIA / "horse1.jpg")
MASK = str(MEDIA / "horse1-mask.jpg")
DOG = str(MEDIA / "dog-on-bench.png")
COMMON = "--inference-steps 2 --seeds 1 --output-size 64x64 --no-aspect --prompts 'a red cat'"
SDXL = "--model-type sdxl"


@dataclasses.dataclass(frozen=True)
class Nets:
    sd: Path  # a folder fitting tiny_sd
    sd_other: Path  # another one, other weights
    sd_file: Path  # `sd` as one .safetensors file, diffusers key names
    sd_ldm: Path  # `sd` as one .pth pickle, the original key names (control_model.)
    sdxl: Path  # a folder fitting tiny_sdxl
    sdxl_ldm: Path  # `sdxl` as one original-layout .safetensors file
    union: Path  # a ControlNetUnionModel folder fitting tiny_sdxl (6 modes)


@pytest.fixture(scope="module")
def nets(tiny_sd: Path, tiny_sdxl: Path, tmp_path_factory: pytest.TempPathFactory) -> Nets:
    root = tmp_path_factory.mktemp("controlnets")
    sd = build_controlnet_folder(tiny_sd, root / "sd")
    sdxl = build_controlnet_folder(tiny_sdxl, root / "sdxl", seed=23)
    return Nets(sd=sd, sd_other=build_controlnet_folder(tiny_sd, root / "sd-other", seed=22),
                sd_file=build_controlnet_file(sd, root / "files" / "sd.safetensors"),
                sd_ldm=build_controlnet_file(sd, root / "files" / "sd-ldm.pth", layout="ldm"),
                sdxl=sdxl,
                sdxl_ldm=build_controlnet_file(sdxl, root / "files" / "sdxl-ldm.safetensors",
                                               layout="ldm"),
                union=build_controlnet_folder(tiny_sdxl, root / "union", union=True))


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def pixels(folder: Path) -> np.ndarray:
    (path,) = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def q(*parts: object) -> str:
    """One quoted argument: the parts joined with ';' (a URI with its arguments)."""
    return shlex.quote(";".join(map(str, parts)))


def script(tmp_path: Path, model: Path, runs: dict[str, str], *arguments: str,
           env: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """One config script: an invocation of ``model`` per entry of ``runs`` (the options
    after the common ones), written to the folder named by its key. Must succeed; returns
    the picture of each run."""
    lines = [f"{shlex.quote(str(model))} {COMMON} {options} --output-path "
             f"{shlex.quote(str(tmp_path / name))}" for name, options in runs.items()]
    path = tmp_path / "script.dgen"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("--file", str(path), *arguments, env={**ENV, **(env or {})})
    assert result.exit_code == 0, result.stderr
    return {name: pixels(tmp_path / name) for name in runs}


def failure(*args: str) -> str:
    result = run_cli(*args, env=ENV)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    return not np.array_equal(a, b)


# ----------------------------------------------------------------------- sd


def test_sd_txt2img_sources_and_scales(tiny_sd: Path, nets: Nets, tmp_path: Path) -> None:
    image = script(tmp_path, tiny_sd, {
        "none": "",
        "cn": f"--control-nets {nets.sd} --image-seeds {HORSE}",
        "zero": f"-cn {q(nets.sd, 'scale=0')} --image-seeds {HORSE}",
        "half": f"-cn {q(nets.sd, 'scale=0.5')} --image-seeds {HORSE}",
        "late": f"-cn {q(nets.sd, 'start=0.5', 'end=1.0')} --image-seeds {HORSE}",
        "file": f"-cn {q(nets.sd_file, 'scale=1.0')} --image-seeds {HORSE}",
        "ldm": f"-cn {q(nets.sd_ldm, 'dtype=float32')} --image-seeds {HORSE}",
        "dog": f"-cn {nets.sd} --image-seeds {DOG}",
    })
    assert differ(image["cn"], image["none"])
    assert np.array_equal(image["zero"], image["none"])  # no guidance: the plain picture
    for name in ("half", "late", "dog"):
        assert differ(image[name], image["cn"]) and differ(image[name], image["none"]), name
    # the same weights, however given, make the same picture
    assert np.array_equal(image["file"], image["cn"])
    assert np.array_equal(image["ldm"], image["cn"])


def test_sd_img2img_and_inpaint(tiny_sd: Path, nets: Nets, tmp_path: Path) -> None:
    image = script(tmp_path, tiny_sd, {
        "img2img": f"--image-seeds {HORSE}",
        "img2img_cn": f"-cn {nets.sd} --image-seeds {q(HORSE, f'control={DOG}')}",
        "inpaint": f"--image-seeds {q(HORSE, f'mask={MASK}')}",
        "inpaint_cn": f"-cn {nets.sd} --image-seeds {q(HORSE, f'mask={MASK}', f'control={DOG}')}",
        "inpaint_zero": f"-cn {q(nets.sd, 'scale=0')} "
                        f"--image-seeds {q(HORSE, f'mask={MASK}', f'control={DOG}')}",
    })
    assert differ(image["img2img_cn"], image["img2img"])
    assert differ(image["inpaint_cn"], image["inpaint"])
    assert differ(image["inpaint_zero"], image["inpaint_cn"])


def test_two_controlnets_take_two_control_images(tiny_sd: Path, nets: Nets,
                                                 tmp_path: Path) -> None:
    image = script(tmp_path, tiny_sd, {
        "one": f"-cn {nets.sd} --image-seeds {HORSE}",
        "two": f"-cn {nets.sd} {nets.sd_other} --image-seeds {shlex.quote(f'{HORSE}, {DOG}')}",
        "second_off": f"-cn {nets.sd} {q(nets.sd_other, 'scale=0')} "
                      f"--image-seeds {shlex.quote(f'{HORSE}, {DOG}')}",
        "img2img": f"-cn {nets.sd} {nets.sd_other} "
                   f"--image-seeds {shlex.quote(f'{HORSE};control={HORSE}, {DOG}')}",
    })
    assert differ(image["two"], image["one"])
    # a ControlNet at scale 0 adds nothing to the other's guidance
    assert np.abs(image["second_off"] - image["one"]).max() <= 1
    assert differ(image["img2img"], image["two"])


def test_control_image_counts_must_match(tiny_sd: Path, nets: Nets, tmp_path: Path) -> None:
    stderr = failure(str(tiny_sd), "-cn", str(nets.sd), str(nets.sd_other), "--image-seeds",
                     HORSE, "--output-path", str(tmp_path), "--dry-run")
    assert "1 control images for the 2 models of --control-nets" in stderr
    stderr = failure(str(tiny_sd), "-cn", str(nets.sd), "--output-path", str(tmp_path),
                     "--dry-run")
    assert "--control-nets needs control images from --image-seeds" in stderr


def test_control_image_processors_chain_per_image(tiny_sd: Path, nets: Nets,
                                                  tmp_path: Path) -> None:
    seeds = shlex.quote(f"{HORSE}, {DOG}")
    two = f"-cn {nets.sd} {nets.sd_other} --image-seeds {seeds}"
    image = script(tmp_path, tiny_sd, {
        "plain": two,
        "both": f"{two} --control-image-processors canny + invert",
        "first": f"{two} -cip canny",
    })
    assert differ(image["both"], image["plain"]) and differ(image["first"], image["plain"])
    assert differ(image["both"], image["first"])


def test_an_animated_control_image_makes_frames(tiny_sd: Path, nets: Nets,
                                                tmp_path: Path) -> None:
    result = run_cli(str(tiny_sd), *shlex.split(COMMON), "-cn", str(nets.sd), "--image-seeds",
                     str(MEDIA / "kitten.gif"), "--frame-end", "1", "--output-path",
                     str(tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    written = names(tmp_path)
    assert len([name for name in written if name.startswith("ANIM_")]) == 1
    frames = sorted(name for name in written if "_frame_" in name)
    assert len(frames) == 2, written
    first, second = (np.asarray(Image.open(tmp_path / name).convert("RGB")) for name in frames)
    assert differ(first, second)  # each frame is guided by its own control image


def test_written_configs_reproduce_the_picture(tiny_sd: Path, nets: Nets,
                                               tmp_path: Path) -> None:
    uris = (f"{nets.sd};scale=0.7;end=0.8", str(nets.sd_file))
    first = run_cli(str(tiny_sd), *shlex.split(COMMON), "--control-nets", *uris,
                    "--image-seeds", f"{HORSE}, {DOG}", "--output-path", str(tmp_path / "first"),
                    "--output-configs", env=ENV)
    assert first.exit_code == 0, first.stderr
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert f"--control-nets {shlex.quote(uris[0])} {shlex.quote(uris[1])}" in config.read_text()
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / "again"), pixels(tmp_path / "first"))


def test_a_url_loads_once_from_the_web_cache(tiny_sd: Path, nets: Nets, tmp_path: Path,
                                             server: FileServer) -> None:
    url = server.add("/nets/sd.safetensors", nets.sd_file)
    image = script(tmp_path, tiny_sd, {
        "folder": f"-cn {nets.sd} --image-seeds {HORSE}",
        "url": f"-cn {q(url, 'scale=1')} --image-seeds {HORSE}",
        "again": f"-cn {url} --image-seeds {HORSE}",
    }, env={"DGENERATE_CACHE": str(tmp_path / "cache")})
    assert np.array_equal(image["url"], image["folder"])
    assert np.array_equal(image["again"], image["folder"])
    assert server.hits["/nets/sd.safetensors"] == 1


def test_one_controlnet_loads_once_for_two_pipelines(tiny_sd: Path, nets: Nets,
                                                     tmp_path: Path) -> None:
    context = KernelContext(isolated_plugin_manager())
    for name, seeds in (("txt2img", HORSE), ("img2img", f"{HORSE};control={DOG}")):
        parser = build_parser(context.manager)
        arguments = [str(tiny_sd), *shlex.split(COMMON), "-cn", f"{nets.sd};scale=0.5",
                     "--image-seeds", seeds, "--output-path", str(tmp_path / name)]
        render(context, make_plan(context, parser, parser.parse_args(arguments)))
    cache = context.cache("controlnet")
    assert (cache.misses, len(cache)) == (1, 1)
    pipelines = [entry.value for entry in context.cache("pipeline")._entries.values()
                 if hasattr(entry.value, "controlnet")]
    assert {type(pipeline).__name__ for pipeline in pipelines} == {
        "StableDiffusionControlNetPipeline", "StableDiffusionControlNetImg2ImgPipeline"}
    assert pipelines[0].controlnet is pipelines[1].controlnet


# --------------------------------------------------------------------- sdxl


def test_sdxl_modes(tiny_sdxl: Path, nets: Nets, tmp_path: Path) -> None:
    image = script(tmp_path, tiny_sdxl, {
        "none": SDXL,
        "cn": f"{SDXL} -cn {nets.sdxl} --image-seeds {HORSE}",
        "ldm": f"{SDXL} -cn {nets.sdxl_ldm} --image-seeds {HORSE}",
        "img2img": f"{SDXL} --image-seeds {HORSE}",
        "img2img_cn": f"{SDXL} -cn {nets.sdxl} --image-seeds {q(HORSE, f'control={DOG}')}",
        "inpaint": f"{SDXL} --image-seeds {q(HORSE, f'mask={MASK}')}",
        "inpaint_cn": f"{SDXL} -cn {q(nets.sdxl, 'scale=0.8')} "
                      f"--image-seeds {q(HORSE, f'mask={MASK}', f'control={DOG}')}",
    })
    assert differ(image["cn"], image["none"])
    assert np.array_equal(image["ldm"], image["cn"])
    assert differ(image["img2img_cn"], image["img2img"])
    assert differ(image["inpaint_cn"], image["inpaint"])


def test_sdxl_union_modes(tiny_sdxl: Path, nets: Nets, tmp_path: Path) -> None:
    union = nets.union
    both = shlex.quote(f"{HORSE}, {DOG}")
    image = script(tmp_path, tiny_sdxl, {
        "depth": f"{SDXL} -cn {q(union, 'mode=depth')} --image-seeds {HORSE}",
        "one": f"{SDXL} -cn {q(union, 'mode=1')} --image-seeds {HORSE}",
        "canny": f"{SDXL} -cn {q(union, 'mode=Canny')} --image-seeds {HORSE}",
        "lineart": f"{SDXL} -cn {q(union, 'mode=lineart')} --image-seeds {HORSE}",
        "two": f"{SDXL} -cn {q(union, 'mode=depth')} {q(union, 'mode=openpose', 'scale=0.5')} "
               f"--image-seeds {both}",
        "inpaint": f"{SDXL} -cn {q(union, 'mode=depth')} "
                   f"--image-seeds {q(HORSE, f'mask={MASK}', f'control={DOG}')}",
    })
    assert np.array_equal(image["depth"], image["one"])
    assert differ(image["canny"], image["depth"])
    assert np.array_equal(image["canny"], image["lineart"])  # both are mode 3
    assert differ(image["two"], image["depth"])


def test_sdxl_refiner_edits_what_a_controlnet_guided(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                     nets: Nets, tmp_path: Path) -> None:
    refine = f"{SDXL} --sdxl-refiner {tiny_sdxl_refiner} --sdxl-high-noise-fractions 0.5"
    guided = f"-cn {nets.sdxl} --image-seeds {HORSE}"
    image = script(tmp_path, tiny_sdxl, {
        "refined": f"{refine} {guided}",
        "edit": f"{refine} --sdxl-refiner-edit {guided}",
        "alone": f"{SDXL} {guided}",
    })
    # with ControlNets the refiner works in edit mode, as --sdxl-refiner-edit asks
    assert np.array_equal(image["refined"], image["edit"])
    assert differ(image["refined"], image["alone"])


@pytest.fixture
def hub(nets: Nets, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A Hugging Face cache (used by this process) holding ``tester/controlnets``: the plain
    SD ControlNet in the subfolder ``sd`` and the union one in ``union``."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-home" / "hub"
    files = {}
    for subfolder, folder in (("sd", nets.sd), ("union", nets.union)):
        for path in folder.iterdir():
            files[f"{subfolder}/{path.name}"] = path
    hub_cache_entry(cache, "tester/controlnets", {"main": files})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return "tester/controlnets"


def test_repositories(tiny_sd: Path, tiny_sdxl: Path, nets: Nets, hub: str,
                      tmp_path: Path) -> None:
    image = script(tmp_path, tiny_sd, {
        "folder": f"-cn {nets.sd} --image-seeds {HORSE}",
        "hub": f"-cn {q(hub, 'subfolder=sd')} --image-seeds {HORSE} --offline-mode",
    })
    assert np.array_equal(image["hub"], image["folder"])
    # a repository's union ControlNet is told from its cached config.json before loading
    stderr = failure(str(tiny_sdxl), "--model-type", "sdxl", "-cn", f"{hub};subfolder=union",
                     "--image-seeds", HORSE, "--offline-mode", "--dry-run", "--output-path",
                     str(tmp_path))
    assert "is a union ControlNet: give the control mode" in stderr


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(("uri", "mentions"), [
    ("{sd};scal=0.5", ("no argument 'scal'", "did you mean 'scale'")),
    ("{file};subfolder=x", ("is a single file, which takes only the arguments scale, start, "
                            "end, dtype; not subfolder",)),
    ("{file};mode=depth", ("single file", "not mode", "union ControlNet")),
    ("http://127.0.0.1:9/cn.safetensors;revision=v2", ("single file", "not revision")),
    ("{sd};start=0.6;end=0.5", ("start=0.6 must be below end=0.5",)),
    ("{sd};end=1.5", ("end=1.5 is not a fraction",)),
    ("{sd};dtype=float8", ("'dtype'", "float8")),
    ("{sd};quantizer=nope", ("quantizer='nope'", "unknown quantizer 'nope'")),
    ("{file};quantizer=nope", ("single file", "not quantizer")),
    ("{sd};mode=depth", ("control mode names are known for --model-type sdxl, not "
                         "--model-type sd; give the mode as a number",)),
    ("{sd};mode=2", ("is a plain ControlNet (ControlNetModel); leave mode out",)),
    ("missing.safetensors", ("'missing.safetensors' does not exist",)),
    ("{model}", ("is not a diffusers ControlNet folder (it has no config.json)",)),
    ("{model};subfolder=unet", ("holds a model of the class UNet2DConditionModel, not a "
                                "ControlNet",)),
])
def test_uri_mistakes_are_refused_before_loading(tiny_sd: Path, nets: Nets, tmp_path: Path,
                                                 uri: str, mentions: tuple[str, ...]) -> None:
    uri = uri.format(sd=nets.sd, file=nets.sd_file, model=tiny_sd)
    stderr = failure(str(tiny_sd), "--control-nets", uri, "--image-seeds", HORSE, "--dry-run",
                     "--output-path", str(tmp_path))
    assert f"--control-nets {uri!r}" in stderr
    for text in mentions:
        assert text in stderr


@pytest.mark.parametrize(("uris", "mentions"), [
    (("{union};mode=depthh",), ("unknown control mode 'depthh'", "did you mean 'depth'?",
                                "openpose (0)", "segment (5)")),
    (("{union}",), ("is a union ControlNet: give the control mode", "openpose")),
    (("{union};mode=depth", "{union};mode=canny;dtype=float32"), (
        "are two modes of a union ControlNet but not the same model",)),
    (("{union};mode=depth", "{sdxl}"), ("gives no mode while",)),
])
def test_union_mistakes(tiny_sdxl: Path, nets: Nets, tmp_path: Path, uris: tuple[str, ...],
                        mentions: tuple[str, ...]) -> None:
    given = [uri.format(union=nets.union, sdxl=nets.sdxl) for uri in uris]
    seeds = ", ".join([HORSE] * len(given))
    stderr = failure(str(tiny_sdxl), "--model-type", "sdxl", "--control-nets", *given,
                     "--image-seeds", seeds, "--dry-run", "--output-path", str(tmp_path))
    assert "--control-nets" in stderr
    for text in mentions:
        assert text in stderr


@pytest.mark.parametrize(("uri", "mentions"), [
    ("{sd};variant=fp16", ("has no weights of the variant 'fp16'",)),
    ("{sdxl_ldm}", ("is not a ControlNet of the UNet of the sd model", "has the shape")),
    ("nobody/no-controlnet", ("'nobody/no-controlnet' is not in the local Hugging Face cache",
                              "offline mode forbids")),
])
def test_what_cannot_load_is_said_clearly(tiny_sd: Path, nets: Nets, tmp_path: Path, uri: str,
                                          mentions: tuple[str, ...]) -> None:
    uri = uri.format(sd=nets.sd, sdxl_ldm=nets.sdxl_ldm)
    stderr = failure(str(tiny_sd), *shlex.split(COMMON), "--control-nets", uri,
                     "--image-seeds", HORSE, "--offline-mode", "--output-path", str(tmp_path))
    assert f"--control-nets {uri!r}" in stderr
    for text in mentions:
        assert text in stderr


def test_union_mode_out_of_range_is_said_at_load(tiny_sdxl: Path, nets: Nets,
                                                 tmp_path: Path) -> None:
    result: CliResult = run_cli(str(tiny_sdxl), *shlex.split(COMMON), "--model-type", "sdxl",
                                "-cn", f"{nets.union};mode=7", "--image-seeds", HORSE,
                                "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "mode=7 is control mode 7, and this union ControlNet has the modes 0 to 5" in (
        result.stderr)


def test_other_mistakes(tiny_sd: Path, tiny_pix2pix: Path, nets: Nets, tmp_path: Path) -> None:
    out = ("--output-path", str(tmp_path), "--dry-run")
    stderr = failure(str(tiny_sd), "-cn", str(nets.sd), "--t2i-adapters", str(nets.sd),
                     "--image-seeds", HORSE, *out)
    assert "--control-nets and --t2i-adapters cannot be used together" in stderr
    stderr = failure(str(tiny_sd), "-cn", f"{nets.union};mode=2", "--image-seeds", HORSE, *out)
    assert ("--control-nets does not apply to --model-type sd: these need its controlnet "
            "union pipelines, and it has only controlnet, t2i adapter ones") in stderr
    stderr = failure(str(tiny_pix2pix), "--model-type", "pix2pix", "-cn", str(nets.sd),
                     "--image-seeds", HORSE, *out)
    assert "--control-nets does not apply to --model-type pix2pix" in stderr


def test_guidance_rescale_only_where_the_controlnet_pipeline_takes_it(
        tiny_sdxl: Path, nets: Nets, tmp_path: Path) -> None:
    base = (str(tiny_sdxl), "--model-type", "sdxl", "-cn", str(nets.sdxl),
            "--guidance-rescales", "0.5", "--output-path", str(tmp_path), "--dry-run")
    stderr = failure(*base, "--image-seeds", HORSE)
    assert ("--guidance-rescales does not work with --control-nets for txt2img with "
            "--model-type sdxl (StableDiffusionXLControlNetPipeline") in stderr
    inpaint = run_cli(*base, "--image-seeds", f"{HORSE};mask={MASK};control={DOG}", env=ENV)
    assert inpaint.exit_code == 0, inpaint.stderr


INT8 = '''
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


def test_a_quantizer_for_a_controlnet(tiny_sd: Path, nets: Nets, tmp_path: Path) -> None:
    pytest.importorskip("sdnq")
    plugin = tmp_path / "int8.py"
    plugin.write_text(INT8)
    env = {"SDNQ_USE_TORCH_COMPILE": "0", "SDNQ_USE_OPENVINO_MM": "0"}
    image = script(tmp_path, tiny_sd, {
        "cn": f"-cn {nets.sd} --image-seeds {HORSE}",
        "int8": f"-cn {q(nets.sd, 'quantizer=int8')} --image-seeds {HORSE}",
    }, "--plugin-modules", str(plugin), env=env)
    quantized, plain = image["int8"].astype(int), image["cn"].astype(int)
    # int8 weights: close to the unquantized ControlNet's picture, yet not the same
    assert not np.array_equal(quantized, plain) and np.abs(quantized - plain).mean() < 8
