"""--control-nets with --model-type kolors: our Kolors ControlNet pipelines (diffusers has none)
guiding a tiny random-weight Kolors model through the command line, in txt2img and img2img.

A ControlNet changes the picture, scale=0 gives the picture of no ControlNet bit for bit (a
ControlNet at scale 0 is not run at all), start= moves its window, two ControlNets take two
control images, a folder and a single file of one ControlNet make one picture, and written
configurations replay bit for bit. Kolors has no inpainting, with or without ControlNets.
"""

from __future__ import annotations

import inspect
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Mode
from dgenerate.plugin_api.specs import Category
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY as ENV
from .support import MEDIA
from .tiny_controlnet import build_controlnet_file, build_controlnet_folder

HORSE = str(MEDIA / "horse1.jpg")
MASK = str(MEDIA / "horse1-mask.jpg")
DOG = str(MEDIA / "dog-on-bench.png")
COMMON = ("--model-type kolors --inference-steps 2 --seeds 1 --output-size 64x64 --no-aspect "
          "--prompts 'a red cat'")


@pytest.fixture(scope="module")
def nets(tiny_kolors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two ControlNets made from the tiny Kolors UNet (they keep its text projection,
    ``encoder_hid_proj``), and the first one as a single .safetensors file."""
    root = tmp_path_factory.mktemp("kolors-controlnets")
    first = build_controlnet_folder(tiny_kolors, root / "first", seed=41)
    return {"first": first, "second": build_controlnet_folder(tiny_kolors, root / "second",
                                                              seed=42),
            "file": build_controlnet_file(first, root / "first.safetensors")}


def pixels(folder: Path) -> list[np.ndarray]:
    found = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            found.append(np.asarray(image.convert("RGB")).astype(int))
    return found


def script(tmp_path: Path, model: Path, runs: dict[str, str]) -> dict[str, list[np.ndarray]]:
    """One config script: an invocation of ``model`` per entry of ``runs``, written to the
    folder named by its key; must succeed. The pictures of each run."""
    lines = [f"{shlex.quote(str(model))} {COMMON} {options} --output-path "
             f"{shlex.quote(str(tmp_path / name))}" for name, options in runs.items()]
    path = tmp_path / "script.dgen"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("--file", str(path), env=ENV)
    assert result.exit_code == 0, result.stderr
    return {name: pixels(tmp_path / name) for name in runs}


def q(*parts: object) -> str:
    return shlex.quote(";".join(map(str, parts)))


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    return not np.array_equal(a, b)


def test_kolors_declares_controlnets() -> None:
    spec = isolated_plugin_manager().registry(Category.MODEL_TYPE).get("kolors")
    assert "controlnet" in spec.capabilities.slots
    assert "control" in spec.capabilities.inputs
    assert Mode.INPAINT not in spec.capabilities.modes


def test_txt2img(tiny_kolors: Path, nets: dict[str, Path], tmp_path: Path) -> None:
    both = shlex.quote(f"{HORSE}, {DOG}")
    image = script(tmp_path, tiny_kolors, {
        "none": "",
        "cn": f"--control-nets {nets['first']} --image-seeds {HORSE}",
        "zero": f"-cn {q(nets['first'], 'scale=0')} --image-seeds {HORSE}",
        "late": f"-cn {q(nets['first'], 'start=0.5')} --image-seeds {HORSE}",
        "dog": f"-cn {nets['first']} --image-seeds {DOG}",
        "file": f"-cn {nets['file']} --image-seeds {HORSE}",
        "two": f"-cn {nets['first']} {nets['second']} --image-seeds {both}",
        "second_off": f"-cn {nets['first']} {q(nets['second'], 'scale=0')} --image-seeds {both}",
    })
    (plain,) = image["none"]
    (guided,) = image["cn"]
    assert differ(guided, plain)
    assert np.array_equal(image["zero"][0], plain)  # not run at all: the plain picture
    for name in ("late", "dog", "two"):
        assert differ(image[name][0], guided) and differ(image[name][0], plain), name
    assert np.array_equal(image["file"][0], guided)  # one ControlNet, however given
    assert np.array_equal(image["second_off"][0], guided)


def test_img2img(tiny_kolors: Path, nets: dict[str, Path], tmp_path: Path) -> None:
    image = script(tmp_path, tiny_kolors, {
        "img2img": f"--image-seeds {HORSE}",
        "cn": f"-cn {nets['first']} --image-seeds {q(HORSE, f'control={DOG}')}",
        "two": f"-cn {nets['first']} {nets['second']} --batch-size 2 "
               f"--image-seeds {shlex.quote(f'{HORSE};control={DOG}, {HORSE}')}",
    })
    assert differ(image["cn"][0], image["img2img"][0])
    assert len(image["two"]) == 2  # one control image per ControlNet, for every batch item
    assert all(differ(picture, image["cn"][0]) for picture in image["two"])


def test_written_configs_replay(tiny_kolors: Path, nets: dict[str, Path],
                                tmp_path: Path) -> None:
    uris = (f"{nets['first']};scale=0.7;end=0.5", str(nets["second"]))
    first = run_cli(str(tiny_kolors), *shlex.split(COMMON), "--control-nets", *uris,
                    "--image-seeds", f"{HORSE}, {DOG}", "--output-path", str(tmp_path / "first"),
                    "--output-configs", env=ENV)
    assert first.exit_code == 0, first.stderr
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert "--model-type kolors" in config.read_text()
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / "again")[0], pixels(tmp_path / "first")[0])


@pytest.mark.parametrize(("mode", "seed", "expected"), [
    ("", f"{HORSE};mask={MASK};control={DOG}", "kolors does not take an inpaint mask"),
    # the mode names of union ControlNets are SDXL's
    (";mode=depth", HORSE, "control mode names are known for --model-type sdxl, not "
                           "--model-type kolors"),
])
def test_refusals(tiny_kolors: Path, nets: dict[str, Path], tmp_path: Path, mode: str,
                  seed: str, expected: str) -> None:
    result = run_cli(str(tiny_kolors), *shlex.split(COMMON), "--control-nets",
                     f"{nets['first']}{mode}", "--image-seeds", seed, "--output-path",
                     str(tmp_path), env=ENV)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr


def test_pipelines_from_pipe_and_restore_the_unet(tiny_kolors: Path,
                                                   nets: dict[str, Path]) -> None:
    """The pipeline classes by themselves: built with from_pipe from a KolorsPipeline, they
    take the ControlNet call arguments, and leave the UNet as it was after a call."""
    import torch
    from diffusers import ControlNetModel, KolorsPipeline

    from dgenerate.plugin_api.diffusion.model_type import pipeline_class
    from dgenerate.plugins_builtin.model_types.kolors.controlnet import (
        KolorsControlNetImg2ImgPipeline,
        KolorsControlNetPipeline,
    )

    name = "dgenerate.plugins_builtin.model_types.kolors.controlnet:KolorsControlNetPipeline"
    assert pipeline_class(name) is KolorsControlNetPipeline
    for cls, key in ((KolorsControlNetPipeline, "image"),
                     (KolorsControlNetImg2ImgPipeline, "control_image")):
        parameters = inspect.signature(cls.__call__).parameters
        assert {key, "controlnet_conditioning_scale", "control_guidance_start",
                "control_guidance_end", "ip_adapter_image", "callback_on_step_end"} <= set(
            parameters)
    base = KolorsPipeline.from_pretrained(tiny_kolors)
    net = ControlNetModel.from_pretrained(nets["first"])
    pipeline = KolorsControlNetPipeline.from_pipe(base, controlnet=net)
    assert pipeline.unet is base.unet and pipeline.controlnet is net
    with Image.open(HORSE) as control:
        control = control.convert("RGB")
    result = pipeline("a cat", image=control, width=64, height=64, num_inference_steps=1,
                      generator=torch.Generator().manual_seed(1), output_type="np")
    assert result.images.shape == (1, 64, 64, 3)
    assert pipeline.unet is base.unet  # the guided UNet was only there during the call


def test_a_controlnet_of_another_family_is_refused(tiny_kolors: Path, tiny_sdxl: Path,
                                                   tmp_path: Path) -> None:
    sdxl_net = build_controlnet_folder(tiny_sdxl, tmp_path / "sdxl-net")
    result = run_cli(str(tiny_kolors), *shlex.split(COMMON), "--control-nets", str(sdxl_net),
                     "--image-seeds", HORSE, "--output-path", str(tmp_path / "out"), env=ENV)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert ("the ControlNet is not a ControlNet for this Kolors model: it has no projection of "
            "the text encoder's output (encoder_hid_proj") in result.stderr


def test_with_an_ip_adapter(tiny_kolors: Path, nets: dict[str, Path], tmp_path: Path) -> None:
    """The IP adapter goes into the shared UNet, the ControlNet guides it: both act."""
    from .tiny_ip_adapter import build_image_encoder, build_ip_adapter

    build_image_encoder(tmp_path / "adapter" / "image_encoder", seed=4)
    adapter = build_ip_adapter(tiny_kolors, tmp_path / "adapter" / "ip.safetensors", seed=4)
    image = script(tmp_path, tiny_kolors, {
        "cn": f"-cn {nets['first']} --image-seeds {q(HORSE, f'control={DOG}')}",
        "both": f"-cn {nets['first']} --ip-adapters {adapter} "
                f"--image-seeds {q(HORSE, f'control={DOG}', f'adapter={DOG}')}",
        "ip": f"--ip-adapters {adapter} --image-seeds {q(HORSE, f'adapter={DOG}')}",
    })
    assert differ(image["both"][0], image["cn"][0])
    assert differ(image["both"][0], image["ip"][0])
