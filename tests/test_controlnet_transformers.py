"""--control-nets with the transformer families: SD3 (txt2img) and Flux (txt2img, img2img,
inpainting, union ControlNets with control modes), on tiny random-weight models through
the command line.

A ControlNet changes the picture and scale=0 gives the picture of no ControlNet, bit for
bit; a folder and the same weights as one file give one picture; union modes go by name or
number; a written config replays bit for bit; every mistake is one clear error.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .source_fixtures import hub_cache_entry
from .support import BUILTIN_ONLY as ENV
from .support import MEDIA

HORSE = str(MEDIA / "horse1.jpg")
MASK = str(MEDIA / "horse1-mask.jpg")
DOG = str(MEDIA / "dog-on-bench.png")
COMMON = ("--inference-steps 2 --seeds 1 --output-size 64x64 --no-aspect "
          "--prompts 'a red cat'")
SD3 = "--model-type sd3"
FLUX = "--model-type flux --guidance-scales 3.5"


@dataclasses.dataclass(frozen=True)
class Nets:
    sd3: Path  # an SD3ControlNetModel folder fitting tiny_sd3
    sd3_other: Path  # another one, other weights
    sd3_file: Path  # `sd3` as one .safetensors file
    flux: Path  # a FluxControlNetModel folder fitting tiny_flux
    flux_file: Path  # `flux` as one .safetensors file
    union: Path  # a Flux union ControlNet folder (7 control modes)
    union_file: Path  # `union` as one file (refused: a union model needs its config)
    hint: Path  # a Flux ControlNet with its own control image embedding (XLabs style)
    hint_file: Path  # `hint` as one file
    xlabs: Path  # a Flux ControlNet without single blocks, with its own embedding (folder)
    xlabs_file: Path  # `xlabs` as one file in the XLabs key layout


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_sd3 import build_sd3

    return build_sd3(tmp_path_factory.mktemp("models") / "tiny-sd3")


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_flux import build_flux

    return build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


@pytest.fixture(scope="module")
def nets(tiny_sd3: Path, tiny_flux: Path, tmp_path_factory: pytest.TempPathFactory) -> Nets:
    from .tiny_controlnet_transformers import (
        build_flux_controlnet,
        build_sd3_controlnet,
        build_transformer_controlnet_file,
        build_xlabs_file,
    )

    root = tmp_path_factory.mktemp("transformer-controlnets")
    sd3 = build_sd3_controlnet(tiny_sd3, root / "sd3")
    flux = build_flux_controlnet(tiny_flux, root / "flux")
    union = build_flux_controlnet(tiny_flux, root / "union", union=True, seed=52)
    files = root / "files"
    hint = build_flux_controlnet(tiny_flux, root / "hint", hint=True, seed=53)
    xlabs = build_flux_controlnet(tiny_flux, root / "xlabs", hint=True, single=0, seed=54)
    return Nets(hint=hint, xlabs=xlabs,
                xlabs_file=build_xlabs_file(xlabs, files / "xlabs.safetensors"),
                hint_file=build_transformer_controlnet_file(hint, files / "hint.safetensors"),
                sd3=sd3, sd3_other=build_sd3_controlnet(tiny_sd3, root / "sd3-other", seed=42),
                sd3_file=build_transformer_controlnet_file(sd3, files / "sd3.safetensors"),
                flux=flux,
                flux_file=build_transformer_controlnet_file(flux, files / "flux.safetensors"),
                union=union,
                union_file=build_transformer_controlnet_file(union, files / "union.safetensors"))


def pixels(folder: Path) -> np.ndarray:
    (path,) = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def q(*parts: object) -> str:
    """One quoted argument: the parts joined with ';' (a URI with its arguments)."""
    return shlex.quote(";".join(map(str, parts)))


def script(tmp_path: Path, model: Path, runs: dict[str, str]) -> dict[str, np.ndarray]:
    """One config script: an invocation of ``model`` per entry of ``runs`` (the options
    after the common ones), written to the folder named by its key. Must succeed; returns
    the picture of each run."""
    lines = [f"{shlex.quote(str(model))} {COMMON} {options} --output-path "
             f"{shlex.quote(str(tmp_path / name))}" for name, options in runs.items()]
    path = tmp_path / "script.dgen"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("--file", str(path), env=ENV)
    assert result.exit_code == 0, result.stderr
    return {name: pixels(tmp_path / name) for name in runs}


def failure(*args: str) -> str:
    result = run_cli(*args, env=ENV)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    return not np.array_equal(a, b)


# ---------------------------------------------------------------------- sd3


def test_sd3_txt2img(tiny_sd3: Path, nets: Nets, tmp_path: Path) -> None:
    image = script(tmp_path, tiny_sd3, {
        "none": SD3,
        "cn": f"{SD3} --control-nets {nets.sd3} --image-seeds {HORSE}",
        "again": f"{SD3} -cn {nets.sd3} --image-seeds {HORSE}",
        "zero": f"{SD3} -cn {q(nets.sd3, 'scale=0')} --image-seeds {HORSE}",
        "half": f"{SD3} -cn {q(nets.sd3, 'scale=0.5')} --image-seeds {HORSE}",
        "late": f"{SD3} -cn {q(nets.sd3, 'start=0.5')} --image-seeds {HORSE}",
        "file": f"{SD3} -cn {q(nets.sd3_file, 'dtype=float32')} --image-seeds {HORSE}",
        "two": f"{SD3} -cn {nets.sd3} {q(nets.sd3_other, 'scale=0.7')} "
               f"--image-seeds {shlex.quote(f'{HORSE}, {DOG}')}",
    })
    assert differ(image["cn"], image["none"])
    # the control image is encoded with seeded noise: the same job, the same picture
    assert np.array_equal(image["again"], image["cn"])
    assert np.array_equal(image["zero"], image["none"])
    for name in ("half", "late", "two"):
        assert differ(image[name], image["cn"]) and differ(image[name], image["none"]), name
    assert np.array_equal(image["file"], image["cn"])  # the same weights as one file


@pytest.mark.parametrize("seed", [f"{HORSE};control={DOG}",
                                  f"{HORSE};mask={MASK};control={DOG}"])
def test_sd3_controlnets_are_txt2img_only(tiny_sd3: Path, nets: Nets, tmp_path: Path,
                                         seed: str) -> None:
    stderr = failure(str(tiny_sd3), "--model-type", "sd3", "--control-nets", str(nets.sd3),
                     "--image-seeds", seed, "--dry-run", "--output-path", str(tmp_path))
    assert "--control-nets with --model-type sd3 works only for txt2img" in stderr
    assert 'give the control images alone: --image-seeds "control.png"' in stderr


# --------------------------------------------------------------------- flux


def test_flux_txt2img_img2img_inpaint(tiny_flux: Path, nets: Nets, tmp_path: Path) -> None:
    control = q(HORSE, f"control={DOG}")
    masked = q(HORSE, f"mask={MASK}", f"control={DOG}")
    image = script(tmp_path, tiny_flux, {
        "none": FLUX,
        "cn": f"{FLUX} --control-nets {nets.flux} --image-seeds {HORSE}",
        "zero": f"{FLUX} -cn {q(nets.flux, 'scale=0')} --image-seeds {HORSE}",
        "zero_dog": f"{FLUX} -cn {q(nets.flux, 'scale=0')} --image-seeds {DOG}",
        "half": f"{FLUX} -cn {q(nets.flux, 'scale=0.5', 'end=0.5')} --image-seeds {HORSE}",
        "file": f"{FLUX} -cn {nets.flux_file} --image-seeds {HORSE}",
        "hint": f"{FLUX} -cn {nets.hint} --image-seeds {HORSE}",
        "hint_file": f"{FLUX} -cn {nets.hint_file} --image-seeds {HORSE}",
        "xlabs": f"{FLUX} -cn {nets.xlabs} --image-seeds {HORSE}",
        "xlabs_file": f"{FLUX} -cn {nets.xlabs_file} --image-seeds {HORSE}",
        "two": f"{FLUX} -cn {nets.flux} {q(nets.flux_file, 'scale=0.4')} "
               f"--image-seeds {shlex.quote(f'{HORSE}, {DOG}')}",
        "img2img": f"{FLUX} --image-seeds {HORSE}",
        "img2img_cn": f"{FLUX} -cn {nets.flux} --image-seeds {control}",
        "inpaint": f"{FLUX} --image-seeds {q(HORSE, f'mask={MASK}')}",
        "inpaint_cn": f"{FLUX} -cn {nets.flux} --image-seeds {masked}",
    })
    assert differ(image["cn"], image["none"])
    # without guidance the control image changes nothing (diffusers' Flux ControlNet
    # pipelines draw the control image's encoding from the seed's generator, so the
    # picture is not the one of no ControlNet)
    assert np.array_equal(image["zero"], image["zero_dog"])
    assert differ(image["zero"], image["cn"])
    assert np.array_equal(image["file"], image["cn"])
    assert np.array_equal(image["hint_file"], image["hint"])
    assert np.array_equal(image["xlabs_file"], image["xlabs"])  # the XLabs layout, renamed
    assert differ(image["xlabs"], image["hint"])
    for name in ("half", "two", "hint"):
        assert differ(image[name], image["cn"]) and differ(image[name], image["none"]), name
    assert differ(image["img2img_cn"], image["img2img"])
    assert differ(image["inpaint_cn"], image["inpaint"])


def test_flux_union_modes(tiny_flux: Path, nets: Nets, tmp_path: Path) -> None:
    two = shlex.quote(f"{HORSE}, {DOG}")
    image = script(tmp_path, tiny_flux, {
        "canny": f"{FLUX} --control-nets {q(nets.union, 'mode=canny')} --image-seeds {HORSE}",
        "zero": f"{FLUX} -cn {q(nets.union, 'mode=CANNY')} --image-seeds {HORSE}",
        "pose": f"{FLUX} -cn {q(nets.union, 'mode=pose')} --image-seeds {HORSE}",
        "four": f"{FLUX} -cn {q(nets.union, 'mode=4')} --image-seeds {HORSE}",
        "both": f"{FLUX} -cn {q(nets.union, 'mode=canny')} {q(nets.union, 'mode=depth')} "
                f"--image-seeds {two}",
        "scaled": f"{FLUX} -cn {q(nets.union, 'mode=canny')} "
                  f"{q(nets.union, 'mode=depth', 'scale=0.3')} --image-seeds {two}",
        "img2img": f"{FLUX} -cn {q(nets.union, 'mode=gray')} "
                   f"--image-seeds {q(HORSE, f'control={DOG}')}",
        "plain_img2img": f"{FLUX} --image-seeds {HORSE}",
    })
    assert np.array_equal(image["zero"], image["canny"])  # names are case-insensitive
    assert np.array_equal(image["four"], image["pose"])  # pose is mode 4
    assert differ(image["pose"], image["canny"])
    assert differ(image["both"], image["canny"])
    assert differ(image["scaled"], image["both"])  # each mode has its own scale
    assert differ(image["img2img"], image["plain_img2img"])


def test_a_written_config_replays_bit_for_bit(tiny_flux: Path, nets: Nets,
                                              tmp_path: Path) -> None:
    first = tmp_path / "first"
    result = run_cli(str(tiny_flux), *shlex.split(COMMON), *shlex.split(FLUX),
                     "--control-nets", f"{nets.union};mode=depth;start=0.25",
                     f"{nets.union};mode=blur;scale=0.5",
                     "--image-seeds", f"{HORSE}, {DOG}", "--output-configs",
                     "--output-path", str(first), env=ENV)
    assert result.exit_code == 0, result.stderr
    (config,) = first.glob("*.dgen")
    assert "mode=depth;start=0.25" in config.read_text()
    again = tmp_path / "again"
    result = run_cli("--file", str(config), "--output-path", str(again), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(pixels(again), pixels(first))


@pytest.fixture
def hub(nets: Nets, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A Hugging Face cache (used by this process) holding ``tester/transformer-nets``: the
    SD3 ControlNet in the subfolder ``sd3``, the Flux ones in ``flux`` and ``union``."""
    from huggingface_hub import constants

    files = {f"{subfolder}/{path.name}": path
             for subfolder, folder in (("sd3", nets.sd3), ("flux", nets.flux),
                                       ("union", nets.union))
             for path in folder.iterdir()}
    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/transformer-nets", {"main": files})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return "tester/transformer-nets"


def test_repositories_in_the_hub_cache(tiny_sd3: Path, tiny_flux: Path, nets: Nets, hub: str,
                                       tmp_path: Path) -> None:
    sd3 = script(tmp_path / "sd3", tiny_sd3, {
        "folder": f"{SD3} -cn {nets.sd3} --image-seeds {HORSE}",
        "hub": f"{SD3} -cn {q(hub, 'subfolder=sd3')} --image-seeds {HORSE} --offline-mode",
    })
    assert np.array_equal(sd3["hub"], sd3["folder"])
    flux = script(tmp_path / "flux", tiny_flux, {
        "folder": f"{FLUX} -cn {q(nets.union, 'mode=depth')} --image-seeds {HORSE}",
        "hub": f"{FLUX} -cn {q(hub, 'subfolder=union', 'mode=depth')} --image-seeds {HORSE} "
               "--offline-mode",
    })
    assert np.array_equal(flux["hub"], flux["folder"])
    # a cached repository's union ControlNet is told from its config.json before loading
    stderr = failure(str(tiny_flux), "--model-type", "flux", "-cn", f"{hub};subfolder=union",
                     "--image-seeds", HORSE, "--offline-mode", "--dry-run", "--output-path",
                     str(tmp_path / "dry"))
    assert "is a union ControlNet: give the control mode" in stderr


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(("model_type", "uris", "mentions"), [
    ("flux", ("{union};mode=cany",), ("unknown control mode 'cany'", "did you mean 'canny'?",
                                      "canny (0)", "lq (6)")),
    ("flux", ("{union}",), ("is a union ControlNet: give the control mode",
                            "canny, tile, depth, blur, pose, gray, lq")),
    ("flux", ("{flux};mode=1",), ("is a plain ControlNet (FluxControlNetModel); leave mode "
                                  "out",)),
    ("flux", ("{union};mode=-1",), ("mode=-1 is negative",)),
    ("flux", ("{union};mode=canny", "{flux}"), ("gives no mode while",)),
    ("flux", ("{union};mode=canny", "{union};mode=depth;dtype=float32"),
     ("are two modes of a union ControlNet but not the same model",)),
    ("flux", ("{sd3}",), ("holds a model of the class SD3ControlNetModel, not a ControlNet of "
                          "--model-type flux (FluxControlNetModel)",)),
    ("flux", ("{union_file};mode=canny",), ("single file", "not mode")),
    ("sd3", ("{flux}",), ("holds a model of the class FluxControlNetModel, not a ControlNet "
                          "of --model-type sd3 (SD3ControlNetModel)",)),
    ("sd3", ("{sd3};mode=1",), ("--model-type sd3 has no union ControlNets; leave mode out",)),
    ("sd3", ("{sd3};mode=depth",), ("--model-type sd3 has no union ControlNets",)),
])
def test_mistakes_are_refused_before_loading(tiny_sd3: Path, tiny_flux: Path, nets: Nets,
                                             tmp_path: Path, model_type: str,
                                             uris: tuple[str, ...],
                                             mentions: tuple[str, ...]) -> None:
    given = [uri.format(**{field.name: getattr(nets, field.name)
                           for field in dataclasses.fields(nets)}) for uri in uris]
    model = tiny_sd3 if model_type == "sd3" else tiny_flux
    stderr = failure(str(model), "--model-type", model_type, "--control-nets", *given,
                     "--image-seeds", ", ".join([HORSE] * len(given)), "--dry-run",
                     "--output-path", str(tmp_path))
    assert "--control-nets" in stderr
    for text in mentions:
        assert text in stderr


@pytest.mark.parametrize(("model_type", "uri", "mentions"), [
    ("flux", "{union};mode=9", ("mode=9 is control mode 9, and this union ControlNet has the "
                                "modes 0 to 6",)),
    ("flux", "{sd3_file}", ("is not a FluxControlNetModel for the flux model in a key layout "
                            "known here (diffusers', or the XLabs one)",)),
    ("sd3", "{flux_file}", ("is not a SD3ControlNetModel for the sd3 model in a key layout "
                            "known here (diffusers')",)),
    ("flux", "{union_file}", ("holds a union ControlNet, which loads from a diffusers folder",)),
])
def test_what_cannot_load_is_said_clearly(tiny_sd3: Path, tiny_flux: Path, nets: Nets,
                                          tmp_path: Path, model_type: str, uri: str,
                                          mentions: tuple[str, ...]) -> None:
    given = uri.format(**{field.name: getattr(nets, field.name)
                          for field in dataclasses.fields(nets)})
    model = tiny_sd3 if model_type == "sd3" else tiny_flux
    stderr = failure(str(model), "--model-type", model_type, "--control-nets", given,
                     "--image-seeds", HORSE, "--inference-steps", "1", "--output-size", "64",
                     "--output-path", str(tmp_path))
    assert f"--control-nets {given!r}" in stderr
    for text in mentions:
        assert text in stderr


def test_one_control_image_per_controlnet(tiny_flux: Path, nets: Nets, tmp_path: Path) -> None:
    stderr = failure(str(tiny_flux), "--model-type", "flux", "--control-nets", str(nets.flux),
                     str(nets.flux_file), "--image-seeds", HORSE, "--dry-run",
                     "--output-path", str(tmp_path))
    assert "gives 1 control images for the 2 models of --control-nets" in stderr
