"""``--ip-adapters`` with ``--model-type flux``: tiny XLabs-style Flux IP adapters
(tests/tiny_flux_ip_adapter.py) on the tiny Flux model, through the command line.

Each script runs several invocations in one process (one pipeline cache), 2 steps at
64x64; images are compared bit for bit where the adapter must change nothing.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .test_ip_adapter import DOG, HORSE, fails, images, pixels, q, seeds

FLUX = "--model-type flux --inference-steps 2 --seeds 1 --output-size 64x64 --prompts 'a red cat'"


@pytest.fixture(scope="module")
def flux_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_flux import build_flux

    return build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


@pytest.fixture(scope="module")
def adapters(flux_model: Path, tiny_sd: Path,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Flux IP adapters by name. ``xlabs``: ``xlabs/ip_adapter.safetensors`` with the XLabs
    key names and an image encoder beside it; ``diffusers``: the same weights as a
    diffusers-layout torch pickle, alone; ``flat``: the same weights as a torch pickle of
    the XLabs keys, alone; ``other``: other weights, alone; ``encoder``: the
    encoder beside ``xlabs``; ``narrow``: an encoder with 16 wide embeddings; ``sd``: an IP
    adapter for tiny Stable Diffusion."""
    import torch

    from .tiny_flux_ip_adapter import (
        build_flux_ip_adapter,
        build_image_encoder,
        flux_ip_adapter_state,
        save_flux_ip_adapter,
        xlabs_keys,
    )
    from .tiny_ip_adapter import build_ip_adapter

    root = tmp_path_factory.mktemp("flux-ip-adapters")
    state = flux_ip_adapter_state(flux_model, seed=0)
    torch.save(xlabs_keys(state), root / "flat.pt")
    return {
        "xlabs": save_flux_ip_adapter(state, root / "xlabs" / "ip_adapter.safetensors"),
        "encoder": build_image_encoder(root / "xlabs" / "image_encoder", seed=0),
        "diffusers": save_flux_ip_adapter(state, root / "alone" / "ip.bin", layout="diffusers"),
        "flat": root / "flat.pt",
        "other": build_flux_ip_adapter(flux_model, root / "alone" / "other.safetensors",
                                       seed=1),
        "narrow": build_image_encoder(root / "narrow", seed=6, projection_dim=16),
        "sd": build_ip_adapter(tiny_sd, root / "sd-adapter" / "ip.bin", seed=0),
    }


def script(tmp_path: Path, model: Path, runs: dict[str, str], *arguments: str) -> str:
    """One config script: a Flux invocation of ``model`` per entry of ``runs``, written to
    the folder named by its key. Must succeed; returns stderr."""
    lines = [f"{shlex.quote(str(model))} {FLUX} {options} --output-path "
             f"{shlex.quote(str(tmp_path / name))}" for name, options in runs.items()]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "script.dgen"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("--file", str(path), *arguments, env=ENV)
    assert result.exit_code == 0, result.stderr
    return result.stderr


def test_an_adapter_steers_the_flux_picture(flux_model: Path, adapters: dict[str, Path],
                                            tmp_path: Path) -> None:
    xlabs, encoder = q(adapters["xlabs"]), q(adapters["encoder"])
    horse = seeds("adapter: HORSE")
    stderr = script(tmp_path, flux_model, {
        "none": "",
        "adapter": f"--ip-adapters {xlabs} {horse}",
        "diffusers": f"-ipa {q(adapters['diffusers'], 'scale=1.0')} -ie {encoder} {horse}",
        "flat": f"-ipa {q(adapters['flat'])} -ie {encoder} {horse}",
        "scale0": f"--ip-adapters {q(adapters['xlabs'], 'scale=0')} {horse}",
        "half": f"--ip-adapters {q(adapters['xlabs'], 'scale=0.5')} {horse}",
        "dog": f"--ip-adapters {xlabs} {seeds('adapter: DOG')}",
        "plus": f"--ip-adapters {xlabs} {seeds('adapter: HORSE + DOG')}",
        "two": f"--ip-adapters {xlabs} {q(adapters['other'])} {seeds('adapter: HORSE, DOG')}",
        "two_second0": f"--ip-adapters {xlabs} {q(adapters['other'], 'scale=0')} "
                       f"{seeds('adapter: HORSE, DOG')}",
    }, "-v")
    image = images(tmp_path)
    assert not np.array_equal(image["adapter"], image["none"])
    # the XLabs names and diffusers' names load the same weights
    assert np.array_equal(image["diffusers"], image["adapter"])
    assert np.array_equal(image["flat"], image["adapter"])
    # at scale 0 the adapter adds nothing; the scale is set per call, on one loaded adapter
    assert np.array_equal(image["scale0"], image["none"])
    for other in ("half", "dog", "plus", "two"):
        assert not np.array_equal(image[other], image["adapter"]), other
        assert not np.array_equal(image[other], image["none"]), other
    assert np.array_equal(image["two_second0"], image["adapter"])
    assert "loaded 1 IP adapter(s) into the transformer" in stderr
    call = next(line for line in stderr.splitlines()
                if "pipeline call:" in line and "ip_adapter_image" in line)
    assert "negative_prompt" not in call


def test_img2img_and_inpaint_take_adapter_images(flux_model: Path, adapters: dict[str, Path],
                                                 tmp_path: Path) -> None:
    adapter = f"--ip-adapters {q(adapters['xlabs'])}"
    script(tmp_path, flux_model, {
        "img2img_none": seeds("HORSE"),
        "img2img": f"{adapter} {seeds('HORSE;adapter=DOG')}",
        "img2img0": f"--ip-adapters {q(adapters['xlabs'], 'scale=0')} "
                    f"{seeds('HORSE;adapter=DOG')}",
        "inpaint_none": seeds("HORSE;mask=MASK"),
        "inpaint": f"{adapter} {seeds('HORSE;mask=MASK;adapter=DOG')}",
    })
    image = images(tmp_path)
    for mode in ("img2img", "inpaint"):
        assert not np.array_equal(image[mode], image[f"{mode}_none"]), mode
    assert np.array_equal(image["img2img0"], image["img2img_none"])


def test_with_a_controlnet(flux_model: Path, adapters: dict[str, Path],
                           tmp_path: Path) -> None:
    from .tiny_flux_ip_adapter import build_flux_controlnet

    controlnet = f"--control-nets {q(build_flux_controlnet(tmp_path / 'cn'))}"
    adapter = f"--ip-adapters {q(adapters['xlabs'])}"
    script(tmp_path / "out", flux_model, {
        "control": f"{controlnet} {seeds('HORSE')}",
        "both": f"{controlnet} {adapter} {seeds('adapter: DOG;control=HORSE')}",
    })
    image = images(tmp_path / "out")
    assert not np.array_equal(image["both"], image["control"])
    # diffusers' Flux ControlNet img2img pipeline takes no IP adapter images: refused early
    stderr = fails(str(flux_model), *shlex.split(FLUX), *shlex.split(controlnet),
                   *shlex.split(adapter), "--image-seeds", f"{HORSE};adapter={DOG};control={HORSE}",
                   "--output-path", str(tmp_path / "x"), "--dry-run")
    assert ("--ip-adapters does not work with --control-nets for img2img with --model-type "
            "flux: its pipeline FluxControlNetImg2ImgPipeline takes no ip_adapter_image") in stderr


def test_output_configs_reproduce_the_picture(flux_model: Path, adapters: dict[str, Path],
                                              tmp_path: Path) -> None:
    uri = f"{adapters['diffusers']};scale=0.7"
    first = run_cli(str(flux_model), *shlex.split(FLUX), "--ip-adapters", uri,
                    "--image-encoder", str(adapters["encoder"]), "--image-seeds",
                    f"adapter: {DOG}|resize=48 + {HORSE}", "--output-path",
                    str(tmp_path / "first"), "--output-configs", env=ENV)
    assert first.exit_code == 0, first.stderr
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    assert f"--ip-adapters {shlex.quote(uri)}" in config.read_text()
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / "first"), pixels(tmp_path / "again"))


def test_mistakes_are_clear_errors(flux_model: Path, adapters: dict[str, Path],
                                   tmp_path: Path) -> None:
    out = ["--output-path", str(tmp_path), *shlex.split(FLUX)]
    horse = ["--image-seeds", f"adapter: {HORSE}"]
    for arguments, says, dry in (
            ([str(adapters["other"]), *horse],
             "--ip-adapters: the IP adapter images need an image encoder, and it has none "
             "beside its weights", True),
            ([str(adapters["xlabs"]), "--image-seeds", f"adapter: {HORSE}, {DOG}"],
             "gives 2 IP adapter image groups for the 1 model of --ip-adapters", True),
            ([str(adapters["sd"]), "--image-encoder", str(adapters["encoder"]), *horse],
             "the adapter's weights do not fit the transformer of the model (--model-type "
             "flux); it is probably an IP adapter for another kind of model", False),
            ([str(adapters["xlabs"]), "--image-encoder", str(adapters["narrow"]), *horse],
             "the adapter takes image embeddings of 32 values and the image encoder gives 16",
             False)):
        model = "./no/such/flux" if dry else str(flux_model)
        stderr = fails(model, "--ip-adapters", *arguments, *out,
                       *(["--dry-run"] if dry else []))
        assert says in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr


def test_a_flux_adapter_does_not_fit_stable_diffusion(tiny_sd: Path, adapters: dict[str, Path],
                                                      tmp_path: Path) -> None:
    stderr = fails(str(tiny_sd), "--inference-steps", "2", "--output-size", "64",
                   "--ip-adapters", str(adapters["xlabs"]), "--image-seeds", f"adapter: {HORSE}",
                   "--output-path", str(tmp_path))
    assert ("the adapter's weights do not fit the UNet of the model (--model-type sd); it is "
            "probably an IP adapter for another kind of model") in stderr, stderr


@pytest.mark.parametrize("model_type", ["flux-fill", "flux-kontext"])
def test_other_flux_model_types_take_no_ip_adapters(adapters: dict[str, Path],
                                                    model_type: str) -> None:
    stderr = fails("./no/such/flux", "--model-type", model_type, "--ip-adapters",
                   str(adapters["xlabs"]), "--image-seeds", f"adapter: {HORSE}",
                   "--dry-run")
    assert f"--ip-adapters does not apply to --model-type {model_type}" in stderr, stderr
