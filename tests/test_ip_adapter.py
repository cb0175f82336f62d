"""``--ip-adapters`` and ``--image-encoder``: tiny IP adapters and CLIP image encoders built
locally (tests/tiny_ip_adapter.py) for the tiny models, loaded from files, folders, a hub
cache and a local URL, fed images through ``--image-seeds`` (``adapter:`` / ``adapter=``).

Each script runs several invocations in one process (one pipeline cache), with 2 steps at
64x64; images are compared bit for bit where the adapter must change nothing.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import CliResult, run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve
from .support import BUILTIN_ONLY as ENV
from .support import MEDIA

COMMON = "--inference-steps 2 --seeds 1 --output-size 64x64 --prompts 'a red cat'"
COMMON_ARGS = shlex.split(COMMON)
HORSE, DOG, MASK = MEDIA / "horse1.jpg", MEDIA / "dog-on-bench.png", MEDIA / "horse1-mask.jpg"


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
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "script.dgen"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("--file", str(path), *arguments, env={**ENV, **(env or {})})
    assert result.exit_code == 0, result.stderr
    return result


def images(tmp_path: Path) -> dict[str, np.ndarray]:
    return {folder.name: pixels(folder) for folder in tmp_path.iterdir()
            if folder.is_dir() and any(folder.glob("*.png"))}


def q(*parts: object) -> str:
    """A quoted URI made of ``parts`` joined with ';'."""
    return shlex.quote(";".join(map(str, parts)))


def seeds(text: str) -> str:
    """``--image-seeds`` with the media paths written out."""
    for name, path in (("HORSE", HORSE), ("DOG", DOG), ("MASK", MASK)):
        text = text.replace(name, str(path))
    return f"--image-seeds {shlex.quote(text)}"


def fails(*arguments: str) -> str:
    """Run, expect one clear error (exit 1, no traceback); returns stderr."""
    result = run_cli(*arguments, env=ENV)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sd_adapters(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """IP adapters for tiny_sd, by name.

    ``file``: ``models/ip.safetensors`` with the image encoder ``models/image_encoder``
    beside it; ``bin``: the same weights as a torch pickle beside it; ``other``: other
    weights, with no encoder beside them; ``encoder2``: another image encoder folder (same
    shape, other weights); ``narrow``: an encoder whose embeddings are 16 wide;
    ``variant``: the encoder beside ``file`` saved as the variant fp16; ``repo``:
    a folder laid out like a repository (``models/ip.safetensors``, ``models/extra.bin``,
    ``models/image_encoder``)."""
    from .tiny_ip_adapter import build_image_encoder, ip_adapter_state, save_ip_adapter

    root = tmp_path_factory.mktemp("ip-adapters-sd")
    state = ip_adapter_state(tiny_sd, seed=0)
    found = {
        "file": save_ip_adapter(state, root / "models" / "ip.safetensors"),
        "bin": save_ip_adapter(state, root / "models" / "ip.bin"),
        "other": save_ip_adapter(ip_adapter_state(tiny_sd, seed=1), root / "bare" / "o.bin"),
        "encoder2": build_image_encoder(root / "encoders" / "second", seed=5),
        "narrow": build_image_encoder(root / "encoders" / "narrow", seed=6, projection_dim=16),
        "variant": build_image_encoder(root / "encoders" / "variant", seed=0, variant="fp16"),
    }
    build_image_encoder(root / "models" / "image_encoder", seed=0)
    repo = root / "repo"
    shutil.copytree(root / "models", repo / "models")
    shutil.copyfile(found["other"], repo / "models" / "extra.bin")
    found["repo"] = repo
    return found


@pytest.fixture(scope="module")
def sdxl_adapter(tiny_sdxl: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An IP adapter for tiny_sdxl (.bin) with its image encoder beside it."""
    from .tiny_ip_adapter import build_image_encoder, build_ip_adapter

    root = tmp_path_factory.mktemp("ip-adapters-sdxl")
    build_image_encoder(root / "image_encoder", seed=2)
    return build_ip_adapter(tiny_sdxl, root / "ip-adapter_sdxl.bin", seed=3)


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


# -------------------------------------------------------------------------- sd txt2img


def test_an_adapter_steers_the_picture_and_scale_zero_does_not(
        tiny_sd: Path, sd_adapters: dict[str, Path], tmp_path: Path) -> None:
    adapter, repo = sd_adapters["file"], sd_adapters["repo"]
    horse = seeds("adapter: HORSE")
    result = script(tmp_path, tiny_sd, {
        "none": "",
        "adapter": f"--ip-adapters {q(adapter)} {horse}",
        "bin": f"-ipa {q(sd_adapters['bin'], 'scale=1.0')} {horse}",
        "folder": f"--ip-adapters {q(repo, 'subfolder=models', 'weight-name=ip.safetensors')} "
                  f"{horse}",
        "folder_path": f"--ip-adapters {q(repo, 'weight-name=models/ip.safetensors')} {horse}",
        "scale0": f"--ip-adapters {q(adapter, 'scale=0')} {horse}",
        "half": f"--ip-adapters {q(adapter, 'scale=0.5')} {horse}",
        "dog": f"--ip-adapters {q(adapter)} {seeds('adapter: DOG')}",
        "encoder2": f"--ip-adapters {q(adapter)} --image-encoder "
                    f"{q(sd_adapters['encoder2'])} {horse}",
        "encoder_same": f"--ip-adapters {q(adapter)} -ie "
                        f"{q(adapter.parent, 'subfolder=image_encoder', 'dtype=float32')} "
                        f"{horse}",
        "encoder_variant": f"--ip-adapters {q(adapter)} -ie "
                           f"{q(sd_adapters['variant'], 'variant=fp16')} {horse}",
    }, "-v")
    image = images(tmp_path)
    assert not np.array_equal(image["adapter"], image["none"])
    # the basic adapter adds scale x what it sees: at 0 the picture is the model's own
    assert np.array_equal(image["scale0"], image["none"])
    for same in ("bin", "folder", "folder_path", "encoder_same", "encoder_variant"):
        assert np.array_equal(image[same], image["adapter"]), same
    for other in ("half", "dog", "encoder2"):
        assert not np.array_equal(image[other], image["adapter"]), other
        assert not np.array_equal(image[other], image["none"]), other
    # the scale is set per call: the adapters loaded once for "adapter", "scale0" and "half"
    assert result.stderr.count("loaded 1 IP adapter(s)") == 7, result.stderr


def test_img2img_and_inpaint_take_adapter_images(tiny_sd: Path, sd_adapters: dict[str, Path],
                                                 tmp_path: Path) -> None:
    adapter = f"--ip-adapters {q(sd_adapters['file'])}"
    script(tmp_path, tiny_sd, {
        "img2img_none": seeds("HORSE"),
        "img2img": f"{adapter} {seeds('HORSE;adapter=DOG')}",
        "img2img0": f"--ip-adapters {q(sd_adapters['file'], 'scale=0')} "
                    f"{seeds('HORSE;adapter=DOG')}",
        "inpaint_none": seeds("HORSE;mask=MASK"),
        "inpaint": f"{adapter} {seeds('HORSE;mask=MASK;adapter=DOG')}",
    })
    image = images(tmp_path)
    for mode in ("img2img", "inpaint"):
        assert not np.array_equal(image[mode], image[f"{mode}_none"]), mode
    assert np.array_equal(image["img2img0"], image["img2img_none"])


def test_several_images_and_several_adapters(tiny_sd: Path, sd_adapters: dict[str, Path],
                                             tmp_path: Path) -> None:
    first, second = q(sd_adapters["file"]), q(sd_adapters["other"])
    encoder = f"--image-encoder {q(sd_adapters['file'].parent / 'image_encoder')}"
    script(tmp_path, tiny_sd, {
        "one": f"--ip-adapters {first} {seeds('adapter: HORSE')}",
        "plus": f"--ip-adapters {first} {seeds('adapter: HORSE + DOG')}",
        "resized": f"--ip-adapters {first} {seeds('adapter: HORSE|resize=16')}",
        "aspect": f"--ip-adapters {first} {seeds('adapter: HORSE|resize=16|aspect=false')}",
        "two": f"--ip-adapters {first} {second} {seeds('adapter: HORSE + DOG, DOG')}",
        "two_second0": f"--ip-adapters {first} {q(sd_adapters['other'], 'scale=0')} "
                       f"{seeds('adapter: HORSE + DOG, DOG')}",
        "two_encoder": f"--ip-adapters {first} {second} {encoder} "
                       f"{seeds('adapter: HORSE + DOG, DOG')}",
    })
    image = images(tmp_path)
    for other in ("plus", "resized", "aspect", "two"):
        assert not np.array_equal(image[other], image["one"]), other
    assert not np.array_equal(image["two"], image["plus"])
    # the second adapter turned off leaves the first one's picture
    assert np.array_equal(image["two_second0"], image["plus"])
    assert np.array_equal(image["two_encoder"], image["two"])


def test_animated_adapter_images_and_batches(tiny_sd: Path, sd_adapters: dict[str, Path],
                                             tmp_path: Path) -> None:
    kitten = MEDIA / "kitten.gif"
    script(tmp_path, tiny_sd, {"anim": f"--ip-adapters {q(sd_adapters['file'])} "
                                       f"{seeds(f'adapter: HORSE + {kitten}')} "
                                       "--frame-end 1 --batch-size 2"})
    written = sorted(path.name for path in (tmp_path / "anim").iterdir())
    assert len([name for name in written if name.endswith(".png")]) == 4, written
    assert len([name for name in written if name.startswith("ANIM_")]) == 2, written


def test_with_a_lora(tiny_sd: Path, tiny_sd_loras: dict[str, Path],
                     sd_adapters: dict[str, Path], tmp_path: Path) -> None:
    lora = f"--loras {q(tiny_sd_loras['peft'])}"
    horse = seeds("adapter: HORSE")
    script(tmp_path, tiny_sd, {
        "lora": lora,
        "both": f"{lora} --ip-adapters {q(sd_adapters['file'])} {horse}",
        "both0": f"{lora} --ip-adapters {q(sd_adapters['file'], 'scale=0')} {horse}"})
    image = images(tmp_path)
    assert np.array_equal(image["both0"], image["lora"])
    assert not np.array_equal(image["both"], image["lora"])


def test_with_controlnets_and_t2i_adapters(tiny_sd: Path, sd_adapters: dict[str, Path],
                                           tmp_path: Path) -> None:
    from .tiny_controlnet import build_controlnet_folder
    from .tiny_t2i_adapter import build_t2i_adapter

    controlnet = f"--control-nets {q(build_controlnet_folder(tiny_sd, tmp_path / 'cn'))}"
    adapter = f"--ip-adapters {q(sd_adapters['file'])}"
    script(tmp_path / "out", tiny_sd, {
        "control": f"{controlnet} {seeds('HORSE')}",  # the short form: a control image
        "both": f"{controlnet} {adapter} {seeds('adapter: DOG;control=HORSE')}",
        "img2img": f"{controlnet} {adapter} {seeds('HORSE;adapter=DOG;control=HORSE')}",
        "inpaint": f"{controlnet} {adapter} {seeds('HORSE;mask=MASK;adapter=DOG;control=HORSE')}",
    })
    image = images(tmp_path / "out")
    assert not np.array_equal(image["both"], image["control"])
    # diffusers' T2I adapter pipeline for SD takes no IP adapter images
    t2i = build_t2i_adapter(tmp_path / "t2i")
    stderr = fails(str(tiny_sd), *COMMON_ARGS, "--t2i-adapters", str(t2i), "--ip-adapters",
                   str(sd_adapters["file"]), "--image-seeds", f"adapter: {DOG};control={HORSE}",
                   "--output-path", str(tmp_path / "x"), "--dry-run")  # refused before loading
    assert ("--ip-adapters does not work with --t2i-adapters for txt2img with --model-type sd: "
            "its pipeline StableDiffusionAdapterPipeline takes no ip_adapter_image") in stderr


# -------------------------------------------------------------------- other families


def test_sdxl_txt2img(tiny_sdxl: Path, sdxl_adapter: Path, tmp_path: Path) -> None:
    sdxl = "--model-type sdxl"
    script(tmp_path, tiny_sdxl, {
        "none": sdxl,
        "adapter": f"{sdxl} --ip-adapters {q(sdxl_adapter)} {seeds('adapter: HORSE')}",
        "scale0": f"{sdxl} --ip-adapters {q(sdxl_adapter, 'scale=0')} {seeds('adapter: HORSE')}",
    })
    image = images(tmp_path)
    assert not np.array_equal(image["adapter"], image["none"])
    assert np.array_equal(image["scale0"], image["none"])


def test_an_adapter_into_a_shared_unet_changes_a_copy(
        tiny_sd: Path, tiny_unet: Path, sd_adapters: dict[str, Path], tmp_path: Path) -> None:
    unet = f"--unet {q(tiny_unet)}"
    adapter = f"--ip-adapters {q(sd_adapters['file'])} {seeds('adapter: HORSE')}"
    # the adapter's pipeline loads first; the cached UNet must stay plain for the second
    script(tmp_path / "a", tiny_sd, {"adapter": f"{unet} {adapter}", "plain": unet})
    script(tmp_path / "b", tiny_sd, {"plain": unet})
    assert np.array_equal(pixels(tmp_path / "a" / "plain"), pixels(tmp_path / "b" / "plain"))
    assert not np.array_equal(pixels(tmp_path / "a" / "adapter"),
                              pixels(tmp_path / "a" / "plain"))


# ---------------------------------------------------------------- hub, URLs, configs


@pytest.fixture
def adapter_hub(sd_adapters: dict[str, Path], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> str:
    """A hub cache holding ``tester/tiny-ip-adapter`` (``models/`` with the adapter and its
    image encoder, as h94/IP-Adapter lays them out), used in process."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/tiny-ip-adapter", {"main": sd_adapters["repo"]})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return "tester/tiny-ip-adapter"


def test_a_hugging_face_repository(tiny_sd: Path, sd_adapters: dict[str, Path],
                                   adapter_hub: str, tmp_path: Path) -> None:
    horse = seeds("adapter: HORSE")
    hub = q(adapter_hub, "subfolder=models", "weight-name=ip.safetensors")
    script(tmp_path, tiny_sd, {
        "file": f"--ip-adapters {q(sd_adapters['file'])} {horse}",
        "hub": f"--ip-adapters {hub} {horse} --offline-mode",
        "hub_encoder": f"--ip-adapters {q(adapter_hub, 'weight-name=models/ip.safetensors')} "
                       f"--image-encoder {q(adapter_hub, 'subfolder=models/image_encoder')} "
                       f"{horse}",
    })
    image = images(tmp_path)
    assert np.array_equal(image["hub"], image["file"])
    assert np.array_equal(image["hub_encoder"], image["file"])
    out = ["--output-path", str(tmp_path / "x"), *COMMON_ARGS, *shlex.split(horse)]
    for uri, says in (
            (f"{adapter_hub};subfolder=models", "give weight-name"),
            (f"{adapter_hub};weight-name=models/nothing.bin",
             "'models/nothing.bin' of the Hugging Face repository 'tester/tiny-ip-adapter' is "
             "not in the local Hugging Face cache"),
            # the encoder would be at bare/image_encoder or image_encoder: neither is cached
            (f"{adapter_hub};subfolder=bare;weight-name=o.bin",
             "give one with --image-encoder")):
        assert says in fails(str(tiny_sd), "--ip-adapters", uri, *out)


def test_an_adapter_at_a_url_is_downloaded_into_the_web_cache(
        tiny_sd: Path, sd_adapters: dict[str, Path], server: FileServer,
        tmp_path: Path) -> None:
    url = server.add("/adapters/ip.safetensors", sd_adapters["file"])
    env = {"DGENERATE_CACHE": str(tmp_path / "cache"), "DGENERATE_OFFLINE_MODE": None,
           "DGENERATE_WEB_CACHE_EXPIRY_DELTA": None}
    encoder = f"--image-encoder {q(sd_adapters['file'].parent / 'image_encoder')}"
    horse = seeds("adapter: HORSE")
    script(tmp_path, tiny_sd, {
        "file": f"--ip-adapters {q(sd_adapters['file'])} {horse}",
        "url": f"--ip-adapters {q(url, 'scale=1')} {encoder} {horse}",
        "again": f"--ip-adapters {q(url)} {encoder} {horse}"}, env=env)
    assert np.array_equal(pixels(tmp_path / "url"), pixels(tmp_path / "file"))
    assert server.hits["/adapters/ip.safetensors"] == 1
    # a URL brings no image encoder with it
    assert "give one with --image-encoder" in fails(
        "embedded:shapes", "--ip-adapters", url, *shlex.split(horse), "--dry-run")
    assert "a URL of a weights file takes only the scale argument, not subfolder" in fails(
        "embedded:shapes", "--ip-adapters", f"{url};subfolder=x", *shlex.split(horse),
        "--dry-run")


def test_output_configs_reproduce_the_picture(tiny_sd: Path, sd_adapters: dict[str, Path],
                                              tmp_path: Path) -> None:
    uris = (f"{sd_adapters['file']};scale=0.7", str(sd_adapters["other"]))
    encoder = str(sd_adapters["encoder2"])
    image_seeds = f"{HORSE};adapter={DOG}|resize=48 + {HORSE}, {DOG}"
    first = run_cli(str(tiny_sd), *COMMON_ARGS, "--ip-adapters", *uris, "--image-encoder",
                    encoder, "--image-seeds", image_seeds, "--output-path",
                    str(tmp_path / "first"), "--output-configs", env=ENV)
    assert first.exit_code == 0, first.stderr
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    text = config.read_text()
    assert f"--ip-adapters {shlex.quote(uris[0])} {shlex.quote(uris[1])}" in text
    assert f"--image-encoder {shlex.quote(encoder)}" in text
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert again.exit_code == 0, again.stderr
    assert np.array_equal(pixels(tmp_path / "first"), pixels(tmp_path / "again"))


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("arguments", "says"), [
    (["--ip-adapters", "{file}"], "--ip-adapters needs IP adapter image groups from "
                                  "--image-seeds"),
    (["--image-seeds", "adapter: {horse}"], "which need --ip-adapters"),
    (["--ip-adapters", "{file}", "{file}", "--image-seeds", "adapter: {horse}"],
     "gives 1 IP adapter image groups for the 2 models of --ip-adapters"),
    (["--ip-adapters", "{file}", "--image-seeds", "adapter: {horse}, {horse}"],
     "gives 2 IP adapter image groups for the 1 model of --ip-adapters"),
    (["--ip-adapters", "{file};scael=0.5", "--image-seeds", "adapter: {horse}"],
     "--ip-adapters '{file};scael=0.5' has no argument 'scael'; did you mean 'scale'? It "
     "accepts: scale, revision, subfolder, weight-name."),
    (["--ip-adapters", "{file};weight-name=x.bin;revision=v2", "--image-seeds",
      "adapter: {horse}"],
     "a single weights file takes only the scale argument, not revision, weight-name"),
    (["--ip-adapters", "{file};scale=nan", "--image-seeds", "adapter: {horse}"],
     "scale must be a finite number"),
    (["--ip-adapters", "https://huggingface.co/h94/IP-Adapter/blob/main/models/ip.bin",
      "--image-seeds", "adapter: {horse}"],
     "give the repository with subfolder and weight-name instead: "
     "'h94/IP-Adapter;subfolder=models;weight-name=ip.bin'"),
    (["--ip-adapters", "missing.safetensors", "--image-seeds", "adapter: {horse}"],
     "the file or folder 'missing.safetensors' does not exist"),
    (["--ip-adapters", "{repo};subfolder=models", "--image-seeds", "adapter: {horse}"],
     "holds several weights files (extra.bin, ip.bin, ip.safetensors): choose one with "
     "weight-name"),
    (["--ip-adapters", "{repo};subfolder=nope", "--image-seeds", "adapter: {horse}"],
     "has no subfolder 'nope'"),
    (["--ip-adapters", "{other}", "--image-seeds", "adapter: {horse}"],
     "--ip-adapters: the IP adapter images need an image encoder, and it has none beside "
     "its weights"),
    (["--ip-adapters", "{other}", "{other}", "--image-seeds", "adapter: {horse}, {horse}"],
     "none of them has one"),
    (["--image-encoder", "{encoder2}"], "--image-encoder needs --ip-adapters"),
    (["--ip-adapters", "{file}", "--image-encoder", "{file}", "--image-seeds",
      "adapter: {horse}"], "image encoders do not load from single files"),
    (["--ip-adapters", "{file}", "--image-encoder", "https://example.com/encoder",
      "--image-seeds", "adapter: {horse}"], "not from a URL or blob link"),
    (["--ip-adapters", "{file}", "--image-encoder", "{repo}/models", "--image-seeds",
      "adapter: {horse}"], "is not an image encoder folder (it has no config.json); add "
                           "subfolder=image_encoder"),
    (["--ip-adapters", "{file}", "--image-encoder", "{tiny_sd}/unet", "--image-seeds",
      "adapter: {horse}"], "holds a 'UNet2DConditionModel' model, not a CLIP vision model"),
    (["--ip-adapters", "{file}", "--image-encoder", "{encoder2};variant=fp16;dtyp=float16",
      "--image-seeds", "adapter: {horse}"], "has no argument 'dtyp'; did you mean 'dtype'?"),
    (["--ip-adapters", "{file}", "--image-encoder", "{encoder2};dtype=float8",
      "--image-seeds", "adapter: {horse}"], "dtype"),
    (["--model-type", "upscaler-x4", "--ip-adapters", "{file}", "--image-seeds",
      "adapter: {horse}"],
     "--ip-adapters does not apply to --model-type upscaler-x4; it applies to flux, "
     "kolors, pix2pix, sd, sdxl"),
])
def test_mistakes_are_one_clear_error_before_loading(
        arguments: list[str], says: str, sd_adapters: dict[str, Path], tiny_sd: Path) -> None:
    paths = {"file": sd_adapters["file"], "other": sd_adapters["other"],
             "repo": sd_adapters["repo"], "encoder2": sd_adapters["encoder2"],
             "horse": HORSE, "tiny_sd": tiny_sd}
    arguments = [argument.format(**paths) for argument in arguments]
    stderr = fails("embedded:shapes", *arguments, "--dry-run")
    assert says.format(**paths) in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_what_does_not_fit_is_said_when_it_loads(
        tiny_sd: Path, sd_adapters: dict[str, Path], sdxl_adapter: Path,
        tmp_path: Path) -> None:
    out = ["--output-path", str(tmp_path), *COMMON_ARGS, "--image-seeds", f"adapter: {HORSE}"]
    encoder = str(sd_adapters["file"].parent / "image_encoder")
    unet_weights = next((tiny_sd / "unet").glob("*.safetensors"))
    for arguments, says in (
            ([str(sdxl_adapter), "--image-encoder", encoder],
             "the adapter's weights do not fit the UNet of the model (--model-type sd); it is "
             "probably an IP adapter for another kind of model"),
            ([str(unet_weights), "--image-encoder", encoder],
             "is not an IP adapter (it has no image_proj and ip_adapter weights)"),
            ([str(sd_adapters["file"]), "--image-encoder", str(sd_adapters["narrow"])],
             "the adapter takes image embeddings of 32 values and the image encoder gives 16"),
            ([str(sd_adapters["file"]), "--image-encoder",
              f"{sd_adapters['encoder2']};variant=fp16"],
             "has no weights of the variant 'fp16' (model.fp16.safetensors)")):
        stderr = fails(str(tiny_sd), "--ip-adapters", *arguments, *out)
        assert says in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize(("family", "image_seeds"), [
    ("pix2pix", "HORSE;adapter=DOG"), ("kolors", "adapter: DOG"), ("kolors", "HORSE;adapter=DOG")])
def test_pix2pix_and_kolors(family: str, image_seeds: str, request: pytest.FixtureRequest,
                            tmp_path: Path) -> None:
    from .tiny_ip_adapter import build_image_encoder, build_ip_adapter

    model = request.getfixturevalue(f"tiny_{family}")
    build_image_encoder(tmp_path / "adapter" / "image_encoder", seed=4)
    adapter = build_ip_adapter(model, tmp_path / "adapter" / "ip.safetensors", seed=4)
    options = f"--model-type {family} {seeds(image_seeds)}"
    plain = seeds(image_seeds.replace(";adapter=DOG", "")) if ";" in image_seeds else ""
    script(tmp_path, model, {"none": f"--model-type {family} {plain}",
                             "adapter": f"{options} --ip-adapters {q(adapter)}"})
    assert not np.array_equal(pixels(tmp_path / "adapter"), pixels(tmp_path / "none"))
