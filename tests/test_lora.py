"""``--loras`` and ``--lora-fuse-scale``: LoRA files built locally for the tiny models, in
the diffusers/PEFT and kohya layouts, from files, folders, a hub cache and a local URL.

Each script below runs several invocations in one process (one pipeline cache), with 2
steps at 64x64; images are compared bit for bit where the LoRA must change nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Category
from dgenerate.plugin_api.diffusion import pipeline_class
from dgenerate.plugin_api.testing import CliResult, isolated_plugin_manager, run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve
from .support import BUILTIN_ONLY as ENV
from .support import MEDIA

COMMON = "--inference-steps 2 --seeds 1 --output-size 64x64 --prompts 'a red cat'"
COMMON_ARGS = shlex.split(COMMON)


def pixels(folder: Path) -> np.ndarray:
    (path,) = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def script(tmp_path: Path, model: Path, runs: dict[str, str], *arguments: str,
           env: dict[str, str | None] | None = None) -> CliResult:
    """One config script: an invocation of ``model`` per entry of ``runs``, written to the
    folder named by its key, with its value as extra options. Must succeed."""
    lines = [f"{shlex.quote(str(model))} {COMMON} {options} --output-path "
             f"{shlex.quote(str(tmp_path / name))}" for name, options in runs.items()]
    path = tmp_path / "script.dgen"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("--file", str(path), *arguments, env={**ENV, **(env or {})})
    assert result.exit_code == 0, result.stderr
    return result


def q(path: Path | str, *arguments: str) -> str:
    """A quoted ``--loras`` URI."""
    return shlex.quote(";".join([str(path), *arguments]))


# --------------------------------------------------------------------------- sd


def test_a_lora_changes_the_image_and_zero_scales_do_not(
        tiny_sd: Path, tiny_sd_loras: dict[str, Path], tmp_path: Path) -> None:
    lora = tiny_sd_loras["peft"]
    script(tmp_path, tiny_sd, {
        "none": "",
        "lora": f"--loras {q(lora)}",
        "scale0": f"--loras {q(lora, 'scale=0')}",
        "fuse0": f"--loras {q(lora)} --lora-fuse-scale 0",
        "scale_half": f"--loras {q(lora, 'scale=0.5')}",
        "fuse_half": f"-lra {q(lora)} -lrfs 0.5",
        "unet_only": f"--loras {q(tiny_sd_loras['unet_only'])}",
    })
    image = {name.name: pixels(name) for name in tmp_path.iterdir() if name.is_dir()}
    assert not np.array_equal(image["lora"], image["none"])
    assert np.array_equal(image["scale0"], image["none"])
    assert np.array_equal(image["fuse0"], image["none"])
    assert not np.array_equal(image["scale_half"], image["lora"])
    assert not np.array_equal(image["scale_half"], image["none"])
    # the LoRA's own scale and the fuse scale multiply the same weights
    assert np.abs(image["scale_half"] - image["fuse_half"]).max() <= 1
    # the text encoder's LoRA weights count too
    assert not np.array_equal(image["unet_only"], image["lora"])
    assert not np.array_equal(image["unet_only"], image["none"])


def test_kohya_files_and_several_loras_together(
        tiny_sd: Path, tiny_sd_loras: dict[str, Path], tmp_path: Path) -> None:
    peft, other = tiny_sd_loras["peft"], tiny_sd_loras["other"]
    script(tmp_path, tiny_sd, {
        "none": "",
        "kohya": f"--loras {q(tiny_sd_loras['kohya'])}",
        "kohya_pt": f"--loras {q(tiny_sd_loras['kohya_pt'], 'scale=1.0')}",
        "peft": f"--loras {q(peft)}",
        "other": f"--loras {q(other)}",
        "both": f"--loras {q(peft)} {q(other, 'scale=0.8')}",
        "peft_other0": f"--loras {q(peft)} {q(other, 'scale=0')}",
    })
    image = {name.name: pixels(name) for name in tmp_path.iterdir() if name.is_dir()}
    assert not np.array_equal(image["kohya"], image["none"])
    assert np.array_equal(image["kohya"], image["kohya_pt"])
    assert not np.array_equal(image["both"], image["peft"])
    assert not np.array_equal(image["both"], image["other"])
    assert np.array_equal(image["peft_other0"], image["peft"])


def test_img2img_and_inpaint(tiny_sd: Path, tiny_sd_loras: dict[str, Path],
                             tmp_path: Path) -> None:
    horse, mask = MEDIA / "horse1.jpg", MEDIA / "horse1-mask.jpg"
    lora = f"--loras {q(tiny_sd_loras['peft'])}"
    img2img = f"--image-seeds {shlex.quote(str(horse))}"
    inpaint = f"--image-seeds {q(horse, str(mask))}"
    script(tmp_path, tiny_sd, {"img2img_none": img2img, "img2img": f"{img2img} {lora}",
                               "inpaint_none": inpaint, "inpaint": f"{inpaint} {lora}"})
    for mode in ("img2img", "inpaint"):
        assert not np.array_equal(pixels(tmp_path / mode), pixels(tmp_path / f"{mode}_none"))


def test_a_folder_with_subfolder_and_weight_name(
        tiny_sd: Path, tiny_sd_loras: dict[str, Path], tmp_path: Path) -> None:
    folder = tiny_sd_loras["folder"]
    script(tmp_path, tiny_sd, {
        "file": f"--loras {q(tiny_sd_loras['peft'])}",
        "folder": f"--loras {q(folder, 'subfolder=styles', 'weight-name=tiny_style.safetensors')}",
        "by_name": f"--loras {q(tiny_sd_loras['peft'].parent)}",  # one file: no name needed
    })
    assert np.array_equal(pixels(tmp_path / "folder"), pixels(tmp_path / "file"))
    assert np.array_equal(pixels(tmp_path / "by_name"), pixels(tmp_path / "file"))


@pytest.fixture
def lora_hub(tiny_sd_loras: dict[str, Path], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> str:
    """A hub cache holding ``tester/tiny-loras`` (the LoRA in ``styles/``), used in process."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/tiny-loras", {"main": {
        "styles/tiny_style.safetensors": tiny_sd_loras["peft"],
        "README.md": tiny_sd_loras["peft"].parent / "pytorch_lora_weights.safetensors"}})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return "tester/tiny-loras"


def test_a_hugging_face_repository(tiny_sd: Path, tiny_sd_loras: dict[str, Path],
                                   lora_hub: str, tmp_path: Path) -> None:
    hub = f"--loras {q(lora_hub, 'weight-name=tiny_style.safetensors', 'subfolder=styles')}"
    script(tmp_path, tiny_sd, {
        "file": f"--loras {q(tiny_sd_loras['peft'])}",
        "hub": f"{hub} --lora-fuse-scale 0.5",
        "hub_offline": f"{hub} --lora-fuse-scale 0.5 --offline-mode",
        "hub_main": f"--loras {q(lora_hub, 'weight-name=styles/tiny_style.safetensors', 'revision=main')}",  # noqa: E501
    })
    assert np.array_equal(pixels(tmp_path / "hub_main"), pixels(tmp_path / "file"))
    assert np.array_equal(pixels(tmp_path / "hub"), pixels(tmp_path / "hub_offline"))
    assert not np.array_equal(pixels(tmp_path / "hub"), pixels(tmp_path / "file"))
    for uri, says in ((f"{lora_hub};subfolder=styles", "give weight-name"),
                      (f"{lora_hub};weight-name=nothing.safetensors",
                       "'nothing.safetensors' of the Hugging Face repository 'tester/tiny-loras' "
                       "is not in the local Hugging Face cache"),
                      ("tester/absent;weight-name=x.safetensors", "tester/absent")):
        result = run_cli(str(tiny_sd), *COMMON_ARGS, "--loras", uri, "--output-path",
                         str(tmp_path / "x"), env=ENV)
        assert result.exit_code == 1 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def test_a_lora_at_a_url_is_downloaded_into_the_web_cache(
        tiny_sd: Path, tiny_sd_loras: dict[str, Path], server: FileServer,
        tmp_path: Path) -> None:
    url = server.add("/loras/tiny_lora.safetensors", tiny_sd_loras["peft"])
    env = {"DGENERATE_CACHE": str(tmp_path / "cache"), "DGENERATE_OFFLINE_MODE": None,
           "DGENERATE_WEB_CACHE_EXPIRY_DELTA": None}
    script(tmp_path, tiny_sd, {"file": f"--loras {q(tiny_sd_loras['peft'])}",
                               "url": f"--loras {q(url, 'scale=1')}",
                               "again": f"--loras {q(url)} --seeds 1 --prompts 'a red cat'"},
           env=env)
    assert np.array_equal(pixels(tmp_path / "url"), pixels(tmp_path / "file"))
    assert server.hits["/loras/tiny_lora.safetensors"] == 1
    refused = run_cli("embedded:shapes", "--loras", f"{url};weight-name=x.safetensors",
                      "--dry-run", env=ENV)
    assert refused.exit_code == 1
    assert "a URL of a weights file takes only the scale argument, not weight-name" in (
        refused.stderr)


# -------------------------------------------------------------------------- sdxl


def test_sdxl_txt2img(tiny_sdxl: Path, tiny_sdxl_lora: Path, tmp_path: Path) -> None:
    sdxl = "--model-type sdxl"
    script(tmp_path, tiny_sdxl, {"none": sdxl, "lora": f"{sdxl} --loras {q(tiny_sdxl_lora)}",
                                 "scale0": f"{sdxl} --loras {q(tiny_sdxl_lora, 'scale=0')}"})
    assert not np.array_equal(pixels(tmp_path / "lora"), pixels(tmp_path / "none"))
    assert np.array_equal(pixels(tmp_path / "scale0"), pixels(tmp_path / "none"))


def test_sdxl_kohya_files_with_both_text_encoders(tiny_sdxl: Path, tmp_path: Path) -> None:
    from .tiny_submodels import build_lora_kohya

    full = build_lora_kohya(tiny_sdxl, tmp_path / "kohya-sdxl.safetensors", seed=4)
    encoders = build_lora_kohya(tiny_sdxl, tmp_path / "kohya-te.safetensors", seed=4,
                                unet=False)
    sdxl = "--model-type sdxl"
    script(tmp_path, tiny_sdxl, {"none": sdxl, "full": f"{sdxl} --loras {q(full)}",
                                 "te": f"{sdxl} --loras {q(encoders)}",
                                 "te0": f"{sdxl} --loras {q(encoders, 'scale=0')}"})
    none = pixels(tmp_path / "none")
    assert not np.array_equal(pixels(tmp_path / "full"), none)
    # lora_te1_/lora_te2_ keys alone reach both text encoders and change the picture
    assert not np.array_equal(pixels(tmp_path / "te"), none)
    assert not np.array_equal(pixels(tmp_path / "te"), pixels(tmp_path / "full"))
    assert np.array_equal(pixels(tmp_path / "te0"), none)


def test_kolors(tiny_kolors: Path, tmp_path: Path) -> None:
    from .tiny_submodels import build_lora

    lora = build_lora(tiny_kolors, tmp_path / "lora", seed=4)  # a UNet-only LoRA
    kolors = "--model-type kolors"
    script(tmp_path, tiny_kolors, {"none": kolors, "lora": f"{kolors} --loras {q(lora)}"})
    assert not np.array_equal(pixels(tmp_path / "lora"), pixels(tmp_path / "none"))


# ----------------------------------------------------------------- configs, cache


def test_output_configs_reproduce_the_image(tiny_sd: Path, tiny_sd_loras: dict[str, Path],
                                            tmp_path: Path) -> None:
    uris = (f"{tiny_sd_loras['peft']};scale=0.7", str(tiny_sd_loras["kohya"]))
    first = run_cli(str(tiny_sd), *COMMON_ARGS, "--loras", *uris, "--lora-fuse-scale", "0.9",
                    "--output-path", str(tmp_path / "first"), "--output-configs", env=ENV)
    assert first.exit_code == 0, first.stderr
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    text = config.read_text()
    assert f"--loras {shlex.quote(uris[0])} {shlex.quote(uris[1])}" in text
    assert "--lora-fuse-scale 0.9" in text
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / "first"), pixels(tmp_path / "again"))


def test_the_same_loras_reuse_the_cached_pipeline(
        tiny_sd: Path, tiny_sd_loras: dict[str, Path], tmp_path: Path) -> None:
    lora = q(tiny_sd_loras["peft"], "scale=0.5")
    result = script(tmp_path, tiny_sd, {"a": f"--loras {lora}", "b": f"--loras {lora}",
                                        "c": f"--loras {lora} --lora-fuse-scale 0.5",
                                        "d": f"--loras {lora}"}, "-v")
    # a and d reuse the pipeline b made; c, with another fuse scale, fuses again
    assert result.stderr.count("fused 1 LoRA(s) into the model") == 2, result.stderr
    assert "cache hit in 'pipeline'" in result.stderr
    assert np.array_equal(pixels(tmp_path / "a"), pixels(tmp_path / "d"))
    assert not np.array_equal(pixels(tmp_path / "a"), pixels(tmp_path / "c"))


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("uri", "says"), [
    ("{peft};scael=0.5", "--loras '{peft};scael=0.5' has no argument 'scael'; did you mean "
                         "'scale'? It accepts: scale, revision, subfolder, weight-name."),
    ("{peft};weight-name=x.safetensors",
     "a single weights file takes only the scale argument, not weight-name"),
    ("{peft};subfolder=a;revision=dev",
     "a single weights file takes only the scale argument, not revision, subfolder"),
    ("https://huggingface.co/owner/loras/blob/main/styles/my%20style.safetensors",
     "blob links are not accepted for LoRAs; give the repository with subfolder and "
     "weight-name instead: 'owner/loras;subfolder=styles;weight-name=my style.safetensors'"),
    ("missing_lora.safetensors", "the file or folder 'missing_lora.safetensors' does not exist"),
    ("{peft};scale=strong", "argument 'scale' of --loras '{peft};scale=strong' expects float, "
                            "got 'strong'"),
    ("{peft};scale=nan", "scale must be a finite number"),
    ("{folder}", "holds several weights files (a.safetensors, b.safetensors): choose one "
                 "with weight-name"),
    ("{folder};weight-name=c.safetensors", "there is no file 'c.safetensors' in"),
    ("{folder};subfolder=nope", "has no subfolder 'nope'"),
    ("{peft};scale=1;scale=2", "gives the argument 'scale' twice"),
])
def test_mistakes_are_one_clear_error_before_loading(
        uri: str, says: str, tiny_sd_loras: dict[str, Path]) -> None:
    paths = {"peft": tiny_sd_loras["peft"], "folder": tiny_sd_loras["folder"]}
    uri, says = uri.format(**paths), says.format(**paths)
    result = run_cli("embedded:shapes", "--loras", uri, "--dry-run", env=ENV)
    assert result.exit_code == 1
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("arguments", "says"), [
    (["--lora-fuse-scale", "0.5"], "--lora-fuse-scale needs --loras"),
    (["--loras", "x.safetensors", "--lora-fuse-scale", "much"],
     "--lora-fuse-scale: 'much' is not valid (expected a number)"),
    (["--model-type", "upscaler-x2", "--loras", "owner/name", "--image-seeds", "x.png"],
     "--loras does not apply to --model-type upscaler-x2; it applies to"),
])
def test_option_mistakes(arguments: list[str], says: str) -> None:
    result = run_cli("embedded:shapes", *arguments, "--dry-run", env=ENV)
    assert result.exit_code == 1 and says in result.stderr, result.stderr


def test_a_lora_of_another_model_or_a_file_that_is_no_lora(
        tiny_sd: Path, tiny_sdxl_lora: Path, tmp_path: Path) -> None:
    weights = next((tiny_sd / "unet").glob("*.safetensors"))
    for uri, says in ((str(tiny_sdxl_lora), "its weights do not fit the model (--model-type "
                                            "sd); it is probably a LoRA for another kind"),
                      (str(weights), "the file is not a LoRA")):
        result = run_cli(str(tiny_sd), *COMMON_ARGS, "--loras", uri, "--output-path",
                         str(tmp_path), env=ENV)
        assert result.exit_code == 1 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_every_model_type_with_the_lora_slot_can_load_loras() -> None:
    from dgenerate.kernel.plugins.targets import resolve_target

    manager = isolated_plugin_manager()
    families = [spec for spec in manager.registry(Category.MODEL_TYPE).specs(include_hidden=True)
                if "lora" in spec.capabilities.slots]
    assert {spec.name for spec in families} >= {"sd", "sdxl", "pix2pix", "sdxl-pix2pix",
                                                "upscaler-x4", "kolors"}
    for spec in families:
        for name in resolve_target(spec).pipelines.values():
            assert hasattr(pipeline_class(name), "load_lora_weights"), (spec.name, name)


@pytest.mark.parametrize(("family", "image_seeds"), [
    ("pix2pix", "horse1.jpg"), ("sdxl-pix2pix", "horse1.jpg"), ("upscaler-x4", "horse1.jpg;16")])
def test_the_image_families(family: str, image_seeds: str, request: pytest.FixtureRequest,
                            tmp_path: Path) -> None:
    from .tiny_submodels import build_lora

    model = request.getfixturevalue(f"tiny_{family.replace('-', '_')}")
    lora = build_lora(model, tmp_path / "lora", seed=5)
    seeds = f"--model-type {family} --image-seeds {shlex.quote(str(MEDIA / image_seeds))}"
    script(tmp_path, model, {"none": seeds, "lora": f"{seeds} --loras {q(lora)}"})
    assert not np.array_equal(pixels(tmp_path / "lora"), pixels(tmp_path / "none"))
