"""--vae: every kind of VAE source, loaded offline into tiny models through the command line.

Another VAE changes the picture; the model's own VAE weights, however given (folder, file
in either key layout, inside a whole-model checkpoint), give the picture of no --vae,
bit for bit; one VAE given to two models loads once; every mistake is one clear error.
"""

from __future__ import annotations

import dataclasses
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
from .tiny_submodels import (
    build_combined_sd_file,
    build_vae_asymmetric,
    build_vae_file,
    build_vae_folder,
    build_vae_tiny,
)


@dataclasses.dataclass(frozen=True)
class Vaes:
    other: Path  # a folder: weights unlike tiny_sd's own VAE
    other_file: Path  # the same weights, one .safetensors file in the diffusers layout
    other_ldm: Path  # the same weights, a .ckpt pickle in the original layout
    own_file: Path  # tiny_sd's own VAE as one file
    own_sdxl_file: Path  # tiny_sdxl's own VAE as one file (original layout)
    combined: Path  # tiny_sd with the `other` VAE, as one original-layout checkpoint
    tiny: Path  # an AutoencoderTiny folder
    asymmetric: Path  # an AsymmetricAutoencoderKL folder
    wide: Path  # an AutoencoderKL folder with 16 latent channels


@pytest.fixture(scope="module")
def vaes(tiny_sd: Path, tiny_sdxl: Path, tiny_vae: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Vaes:
    root = tmp_path_factory.mktemp("vae-sources")
    return Vaes(
        other=tiny_vae,
        other_file=build_vae_file(tiny_vae, root / "other.safetensors"),
        other_ldm=build_vae_file(tiny_vae, root / "other-ldm.ckpt", layout="ldm"),
        own_file=build_vae_file(tiny_sd / "vae", root / "own.safetensors"),
        own_sdxl_file=build_vae_file(tiny_sdxl / "vae", root / "own-sdxl.safetensors",
                                     layout="ldm"),
        combined=build_combined_sd_file(tiny_sd, tiny_vae, root / "combined.safetensors"),
        tiny=build_vae_tiny(root / "taesd"),
        asymmetric=build_vae_asymmetric(root / "asymmetric"),
        wide=build_vae_folder(root / "wide", latent_channels=16))


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def picture(out: Path) -> np.ndarray:
    (path,) = sorted(out.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


COMMON = ("--seeds", "1", "--prompts", "a horse")


def rendered(model: Path, out: Path, *args: str) -> np.ndarray:
    render_ok(model, out, *COMMON, *args)
    return picture(out)


def failure(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli(*args, env={**BUILTIN_ONLY, **(env or {})})
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


# ------------------------------------------------------------------- sources


def test_every_source_of_one_vae_gives_one_picture(tiny_sd: Path, vaes: Vaes, tmp_path: Path,
                                                   server: FileServer) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    folder = rendered(tiny_sd, tmp_path / "folder", "--vae", f"AutoencoderKL;model={vaes.other}")
    assert not np.array_equal(plain, folder)
    for name, uri in {"file": f"AutoencoderKL;{vaes.other_file}",
                      "ldm": f"AutoencoderKL;model={vaes.other_ldm};dtype=float32",
                      "extract": f"AutoencoderKL;{vaes.combined};extract=true",
                      "key": f"AutoencoderKL;{vaes.combined};extract=true;"
                             "subfolder=first_stage_model"}.items():
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "--vae", uri), folder), name
    url = server.add("/vaes/other.safetensors", vaes.other_file)
    cache = {"DGENERATE_CACHE": str(tmp_path / "cache")}
    result = run_cli(str(tiny_sd), "--output-path", str(tmp_path / "url"), "--inference-steps",
                     "2", *COMMON, "--vae", f"AutoencoderKL;{url}", env={**BUILTIN_ONLY, **cache})
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(picture(tmp_path / "url"), folder)
    assert server.hits["/vaes/other.safetensors"] == 1


def test_the_models_own_vae_weights_change_nothing(tiny_sd: Path, vaes: Vaes,
                                                   tmp_path: Path) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    for name, uri in {"file": f"AutoencoderKL;{vaes.own_file}",
                      "subfolder": f"AutoencoderKL;model={tiny_sd};subfolder=vae"}.items():
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "--vae", uri), plain), name


@pytest.mark.parametrize("seeds", ["img2img", "inpaint"])
def test_img2img_and_inpaint_encode_with_the_vae(tiny_sd: Path, vaes: Vaes, tmp_path: Path,
                                                 seeds: str) -> None:
    image = f"{MEDIA / 'horse1.jpg'};64"
    if seeds == "inpaint":
        image = f"{MEDIA / 'horse1.jpg'};{MEDIA / 'horse1-mask.jpg'};64"
    args = ("--image-seeds", image)
    plain = rendered(tiny_sd, tmp_path / "plain", *args)
    own = rendered(tiny_sd, tmp_path / "own", *args, "--vae", f"AutoencoderKL;{vaes.own_file}")
    other = rendered(tiny_sd, tmp_path / "other", *args, "--vae",
                     f"AutoencoderKL;{vaes.other_file}")
    assert np.array_equal(own, plain) and not np.array_equal(other, plain)


SDXL = ("--model-type", "sdxl", "--output-size", "64")  # (its default size is 1024)


def test_sdxl(tiny_sdxl: Path, vaes: Vaes, tmp_path: Path) -> None:
    plain = rendered(tiny_sdxl, tmp_path / "plain", *SDXL)
    own = rendered(tiny_sdxl, tmp_path / "own", *SDXL, "--vae",
                   f"AutoencoderKL;{vaes.own_sdxl_file}")
    other = rendered(tiny_sdxl, tmp_path / "other", *SDXL, "--vae",
                     f"AutoencoderKL;model={vaes.other}")
    assert np.array_equal(own, plain) and not np.array_equal(other, plain)


def test_the_other_classes(tiny_sd: Path, vaes: Vaes, tmp_path: Path) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    tiny = rendered(tiny_sd, tmp_path / "tiny", "--vae", f"AutoencoderTiny;model={vaes.tiny}")
    asymmetric = rendered(tiny_sd, tmp_path / "asymmetric", "--vae",
                          f"AsymmetricAutoencoderKL;{vaes.asymmetric}")
    assert not np.array_equal(tiny, plain) and not np.array_equal(asymmetric, plain)
    assert not np.array_equal(tiny, asymmetric)
    # the img2img and inpaint pipelines get the VAE too, whatever its class
    seed = str(MEDIA / "horse1.jpg") + ";64"
    own = rendered(tiny_sd, tmp_path / "own_img2img", "--image-seeds", seed)
    for vae in (f"AutoencoderTiny;model={vaes.tiny}", f"AsymmetricAutoencoderKL;{vaes.asymmetric}"):
        edited = rendered(tiny_sd, tmp_path / vae.split(";")[0], "--vae", vae,
                          "--image-seeds", seed)
        assert not np.array_equal(edited, own)


@pytest.fixture
def hub(tiny_sd: Path, vaes: Vaes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A Hugging Face cache (used by this process) holding ``tester/vaes``: on ``main`` the
    `other` VAE in the subfolder vae and as the file other.safetensors; on ``dev`` the
    model's own VAE under both names."""
    from huggingface_hub import constants

    from .source_fixtures import hub_cache_entry

    cache = tmp_path / "hf-home" / "hub"
    branches = {"main": (vaes.other, vaes.other_file), "dev": (tiny_sd / "vae", vaes.own_file)}
    hub_cache_entry(cache, "tester/vaes", {
        branch: {"vae/config.json": folder / "config.json",
                 "vae/diffusion_pytorch_model.safetensors":
                     folder / "diffusion_pytorch_model.safetensors",
                 "other.safetensors": file}
        for branch, (folder, file) in branches.items()})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return "tester/vaes"


def test_repositories_and_blob_links(tiny_sd: Path, vaes: Vaes, tmp_path: Path,
                                     hub: str) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    other = rendered(tiny_sd, tmp_path / "other", "--vae", f"AutoencoderKL;model={vaes.other}")
    link = f"https://huggingface.co/{hub}/blob/main/other.safetensors"
    for name, uri, expected in (
            ("repository", f"AutoencoderKL;model={hub};subfolder=vae", other),
            ("revision", f"AutoencoderKL;model={hub};subfolder=vae;revision=dev", plain),
            ("link", f"AutoencoderKL;{link}", other),
            ("link-revision", f"AutoencoderKL;{link};revision=dev", plain)):
        assert np.array_equal(rendered(tiny_sd, tmp_path / name, "--vae", uri,
                                       "--offline-mode"), expected), name


# ------------------------------------------------------ configs and caching


def test_written_configs_reproduce_the_picture(tiny_sd: Path, vaes: Vaes,
                                               tmp_path: Path) -> None:
    first = rendered(tiny_sd, tmp_path / "first", "--vae", f"AutoencoderKL;{vaes.other_file}",
                     "--output-configs")
    config = next((tmp_path / "first").glob("*.dgen"))
    assert f"--vae 'AutoencoderKL;{vaes.other_file}'" in config.read_text()
    replay = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"),
                     env=BUILTIN_ONLY)
    assert replay.exit_code == 0, replay.stderr
    assert np.array_equal(picture(tmp_path / "again"), first)


def test_one_vae_loads_once_for_two_models(tiny_sd: Path, tiny_sdxl: Path, vaes: Vaes,
                                           tmp_path: Path) -> None:
    context = KernelContext(isolated_plugin_manager())
    vae = ("--vae", f"AutoencoderKL;model={vaes.other}")
    for model, extra in ((tiny_sd, ()), (tiny_sdxl, SDXL)):
        parser = build_parser(context.manager)
        arguments = [str(model), *extra, *vae, *COMMON, "--inference-steps", "1",
                     "--output-path", str(tmp_path / model.name)]
        render(context, make_plan(context, parser, parser.parse_args(arguments)))
    cache = context.cache("vae")
    assert (cache.misses, len(cache)) == (1, 1)
    sd, sdxl = (entry.value for entry in context.cache("pipeline")._entries.values())
    assert type(sd).__name__ != type(sdxl).__name__ and sd.vae is sdxl.vae


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(("uri", "mentions"), [
    ("AutoencoderKl;model=x/y", ("unknown VAE class 'AutoencoderKl'",
                                 "did you mean 'AutoencoderKL'?")),
    ("{file}", ("unknown VAE class", "AutoencoderKL;model=PATH")),
    ("AutoencoderKL;model=x/y;revison=2", ("no argument 'revison'", "did you mean 'revision'")),
    ("AutoencoderKL;{file};variant=fp16;subfolder=vae", (
        "is a single file, which takes only the arguments model, dtype and extract",
        "not variant, subfolder")),
    ("AutoencoderTiny;model={file}", ("AutoencoderTiny loads from a diffusers folder or a "
                                      "Hugging Face repository only",)),
    ("ConsistencyDecoderVAE;https://example.com/vae.safetensors", ("is a single file",)),
    ("AutoencoderKL;missing.safetensors", ("'missing.safetensors' does not exist",)),
    ("AutoencoderKL;model={folder};extract=true", ("extract=true", "is not a file")),
    ("AutoencoderKL;{file};model={file}", ("gives the model twice",)),
    ("AutoencoderKL;model={folder};dtype=float8", ("'dtype'", "float8")),
])
def test_mistakes_are_refused_before_loading(tiny_sd: Path, vaes: Vaes, tmp_path: Path,
                                             uri: str, mentions: tuple[str, ...]) -> None:
    uri = uri.format(file=vaes.other_file, folder=vaes.other)
    stderr = failure(str(tiny_sd), "--vae", uri, "--dry-run", "--output-path", str(tmp_path))
    assert "--vae" in stderr
    for text in mentions:
        assert text in stderr


def test_asymmetric_vaes_do_not_tile(tiny_sd: Path, tmp_path: Path) -> None:
    for flag in ("--vae-tiling", "--vae-slicing"):
        stderr = failure(str(tiny_sd), "--vae", "AsymmetricAutoencoderKL;model=x/y", flag,
                         "--dry-run", "--output-path", str(tmp_path))
        assert f"AsymmetricAutoencoderKL cannot decode in tiles or slices; leave out {flag}" in (
            stderr)


@pytest.mark.parametrize(("uri", "mentions"), [
    ("AutoencoderKL;model={tiny_sd}", ("not a diffusers VAE folder", "add subfolder=vae")),
    ("AutoencoderKL;model={tiny}", ("holds a VAE of the class AutoencoderTiny",
                                    "write AutoencoderTiny;model=")),
    ("AutoencoderKL;model={other};variant=fp16", ("no weights of the variant 'fp16'",)),
    ("AutoencoderKL;{combined}", ("holds a whole model", "add extract=true")),
    ("AutoencoderKL;{combined};extract=true;subfolder=nothing", (
        "no weights under 'nothing.'", "'first_stage_model'")),
    ("AutoencoderKL;model={wide}", ("16 latent channels", "has 4")),
    ("AutoencoderKL;model=nobody/no-vae", ("'nobody/no-vae'", "not in the local Hugging Face "
                                           "cache", "offline mode forbids")),
    ("AutoencoderKL;https://huggingface.co/nobody/r/blob/main/vae.safetensors;revision=v2",
     ("'nobody/r' at revision 'v2'", "offline mode forbids")),
])
def test_what_cannot_load_is_said_clearly(tiny_sd: Path, vaes: Vaes, tmp_path: Path, uri: str,
                                          mentions: tuple[str, ...]) -> None:
    uri = uri.format(tiny_sd=tiny_sd, **{field.name: getattr(vaes, field.name)
                                         for field in dataclasses.fields(vaes)})
    stderr = failure(str(tiny_sd), "--vae", uri, "--offline-mode", "--inference-steps", "1",
                     "--output-path", str(tmp_path))
    assert f"--vae {uri!r}" in stderr
    for text in mentions:
        assert text in stderr


def test_an_uncached_url_offline(tiny_sd: Path, tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/never-served/vae.safetensors"
    stderr = failure(str(tiny_sd), "--vae", f"AutoencoderKL;{url}", "--offline-mode",
                     "--output-path", str(tmp_path),
                     env={"DGENERATE_CACHE": str(tmp_path / "empty-cache")})
    assert "not in the web cache and offline mode forbids downloading it" in stderr
    assert url in stderr


SLOTLESS = '''
from PIL import Image
from dgenerate.plugin_api import ModelType, ModelTypeSpec, RenderOutput, Size, hookimpl


class Flat(ModelType):
    def default_size(self):
        return Size(16, 16)

    def render(self, job):
        return RenderOutput([Image.new("RGB", (job.width, job.height)) for _ in job.seeds])


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(name="slotless", summary="No sub-model slots.", target=":Flat")
'''


def test_a_model_type_without_a_vae_slot_refuses_it(tmp_path: Path) -> None:
    plugin = tmp_path / "slotless.py"
    plugin.write_text(textwrap.dedent(SLOTLESS))
    stderr = failure("--plugin-modules", str(plugin), "m", "--model-type", "slotless",
                     "--vae", "AutoencoderKL;model=x/y", "--output-path", str(tmp_path))
    assert "--vae does not apply to --model-type slotless; it applies to" in stderr
    assert "sdxl" in stderr
