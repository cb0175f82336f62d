"""Every place a model can come from, loaded offline through the real command line.

Hugging Face repository ids are served from a hub cache laid out under a
temporary folder (``models--owner--name/{blobs,refs,snapshots}``), plain URLs
from an HTTP server on 127.0.0.1, and single-file checkpoints are written in the
original LDM layout from a tiny random model. Each case renders one 64x64 image
with 2 steps, or fails with exit status 1 and one paragraph naming the value.

huggingface_hub reads ``HF_HOME``/``HF_HUB_CACHE`` once, when it is imported, so
setting the variables for an in-process run changes nothing: the fixtures point
``huggingface_hub.constants.HF_HUB_CACHE`` (which the hub client, diffusers and
transformers read on every call) at the test cache, and one test runs the
installed command in a fresh process to show that the variable itself works.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .source_fixtures import (
    FileServer,
    SingleFileModel,
    build_single_file_sd,
    hub_cache_entry,
    serve,
)
from .support import clean_environment, run_dgenerate

ENV = {"DGENERATE_DISABLE_PLUGINS": "*", "DGENERATE_WEB_CACHE_EXPIRY_DELTA": None,
       "DGENERATE_OFFLINE_MODE": None}
BLOB = "https://huggingface.co/{repo}/blob/{revision}/{file}"


# ------------------------------------------------------------------ helpers


def render(model: str | Path, out: Path, *args: str, env: dict[str, str | None] | None = None):
    return run_cli(str(model), "--output-path", str(out), "--inference-steps", "2",
                   "--seeds", "1", "--output-size", "64x64", *args, env={**ENV, **(env or {})})


def image_of(out: Path) -> Image.Image:
    files = sorted(out.glob("*.png"))
    assert len(files) == 1, files
    with Image.open(files[0]) as image:
        image.load()
        return image


def ok(model: str | Path, out: Path, *args: str, env: dict[str, str | None] | None = None):
    result = render(model, out, *args, env=env)
    assert result.exit_code == 0, result.stderr
    assert image_of(out).size == (64, 64)
    return result


def fails(model: str | Path, out: Path, *args: str, mentions: tuple[str, ...],
          env: dict[str, str | None] | None = None) -> str:
    """Exit status 1 and one paragraph on standard error that names every ``mentions``."""
    result = render(model, out, *args, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert not out.exists() or not any(out.iterdir())
    lines = [line for line in result.stderr.splitlines() if line.startswith("dgenerate: error:")]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert "Traceback" not in result.stderr and len(message) < 800, result.stderr
    for text in mentions:
        assert text in message, (text, message)
    return message


# ----------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # tiny models run 10-20x faster on one thread when other work shares the CPU
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def single_file(tmp_path_factory: pytest.TempPathFactory) -> SingleFileModel:
    return build_single_file_sd(tmp_path_factory.mktemp("single-file"))


@pytest.fixture(scope="session")
def variant_only(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_sd saved with ``variant="fp16"`` (and in float16): only ``*.fp16.*`` weights."""
    import torch
    from diffusers import StableDiffusionPipeline

    folder = tmp_path_factory.mktemp("variant") / "tiny-sd-fp16"
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_sd, safety_checker=None,
                                                       requires_safety_checker=False)
    pipeline.to(torch.float16).save_pretrained(folder, variant="fp16")
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    return folder


@pytest.fixture(scope="session")
def hf_home(tiny_sd: Path, variant_only: Path, single_file: SingleFileModel,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``HF_HOME`` whose hub cache holds every repository the tests use."""
    home = tmp_path_factory.mktemp("hf-home")
    cache = home / "hub"
    # a "dev" branch whose scheduler differs, so that its images differ from main's
    dev = tmp_path_factory.mktemp("dev") / "tiny-sd"
    shutil.copytree(tiny_sd, dev)
    scheduler = dev / "scheduler" / "scheduler_config.json"
    config = json.loads(scheduler.read_text())
    scheduler.write_text(json.dumps({**config, "beta_end": 0.03}))
    hub_cache_entry(cache, "tester/tiny-sd", {"main": tiny_sd, "dev": dev})
    in_subfolder = {f"pipelines/sd/{path.relative_to(tiny_sd).as_posix()}": path
                    for path in tiny_sd.rglob("*") if path.is_file()}
    hub_cache_entry(cache, "tester/nested", {"main": in_subfolder})
    hub_cache_entry(cache, "tester/tiny-sd-fp16", {"main": variant_only})
    # a download that stopped half way: the UNet's weights are missing
    hub_cache_entry(cache, "tester/partial", {"main": {
        path.relative_to(tiny_sd).as_posix(): path for path in tiny_sd.rglob("*")
        if path.is_file() and (path.parent.name != "unet" or path.suffix == ".json")}})
    hub_cache_entry(cache, "tester/checkpoints", {
        "main": {"tiny-sd1.safetensors": single_file.safetensors,
                 "sub/tiny-sd1.ckpt": single_file.ckpt,
                 "with space.safetensors": single_file.safetensors,
                 "model_index.json": single_file.configs / "model_index.json"}})
    # what from_single_file fetches for a checkpoint it infers to be SD 1.x
    hub_cache_entry(cache, "stable-diffusion-v1-5/stable-diffusion-v1-5",
                    {"main": single_file.configs})
    return home


@pytest.fixture(scope="session")
def legacy_hf_home(single_file: SingleFileModel,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub cache with only ``openai/clip-vit-large-patch14``: what the legacy
    ``--original-config`` route of from_single_file loads the tokenizer and text config from."""
    home = tmp_path_factory.mktemp("hf-home-legacy")
    hub_cache_entry(home / "hub", "openai/clip-vit-large-patch14", {"main": single_file.clip})
    return home


@pytest.fixture
def use_hf_home(monkeypatch: pytest.MonkeyPatch):
    """Point the Hugging Face libraries at ``HF_HOME`` (for this test, in this process)."""
    from huggingface_hub import constants

    def use(home: Path) -> Path:
        monkeypatch.setenv("HF_HOME", str(home))
        monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setattr(constants, "HF_HOME", str(home))
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        return home

    return use


@pytest.fixture
def hub(hf_home: Path, use_hf_home) -> Path:
    return use_hf_home(hf_home)


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


@pytest.fixture
def web_cache(tmp_path: Path) -> dict[str, str]:
    """A fresh dgenerate cache folder, given to run_cli as ``env``."""
    return {"DGENERATE_CACHE": str(tmp_path / "dgenerate-cache")}


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every name lookup and connection to anything but this machine,
    with the hub client's own offline switch (HF_HUB_OFFLINE) turned off."""
    from huggingface_hub import constants

    local = ("127.0.0.1", "::1", "localhost")
    attempts: list[str] = []
    real_lookup, real_connect = socket.getaddrinfo, socket.socket.connect

    def lookup(host, *args, **kwargs):
        if host not in local:
            attempts.append(f"lookup {host}")
            raise socket.gaierror(f"tests may not look up {host!r}")
        return real_lookup(host, *args, **kwargs)

    def connect(self: socket.socket, address: object) -> object:
        if isinstance(address, tuple) and address[0] not in local:
            attempts.append(f"connect {address}")
        return real_connect(self, address)  # conftest's guard refuses it

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return attempts


# ------------------------------------------- 1. Hugging Face repository ids


def test_repository_id_from_the_hub_cache(hub: Path, tmp_path: Path) -> None:
    ok("tester/tiny-sd", tmp_path)


def test_revision_branch_and_missing_revision(hub: Path, tmp_path: Path) -> None:
    ok("tester/tiny-sd", tmp_path / "main")
    ok("tester/tiny-sd", tmp_path / "dev", "--revision", "dev")
    assert image_of(tmp_path / "main").tobytes() != image_of(tmp_path / "dev").tobytes()
    commit = (hub / "hub" / "models--tester--tiny-sd" / "refs" / "dev").read_text()
    ok("tester/tiny-sd", tmp_path / "commit", "--revision", commit)
    assert image_of(tmp_path / "commit").tobytes() == image_of(tmp_path / "dev").tobytes()
    fails("tester/tiny-sd", tmp_path / "x", "--revision", "no-such-branch",
          mentions=("'tester/tiny-sd'", "no-such-branch"))


def test_subfolder_of_a_repository(hub: Path, tmp_path: Path) -> None:
    ok("tester/nested", tmp_path, "--subfolder", "pipelines/sd")
    fails("tester/nested", tmp_path / "x", "--subfolder", "nowhere",
          mentions=("'nowhere'", "tester/nested"))
    fails("tester/nested", tmp_path / "y",
          mentions=("'tester/nested'", "model_index.json", "--subfolder"))


def test_subfolder_of_a_revision(hub: Path, tmp_path: Path) -> None:
    ok("tester/nested", tmp_path, "--subfolder", "pipelines/sd", "--revision", "main")
    fails("tester/nested", tmp_path / "x", "--subfolder", "pipelines/sd", "--revision", "dev",
          mentions=("'tester/nested'", "dev"))


def test_partly_cached_repository(hub: Path, tmp_path: Path) -> None:
    fails("tester/partial", tmp_path / "a", mentions=("'tester/partial'", "partly"))
    fails("tester/partial", tmp_path / "b", "--offline-mode",
          mentions=("'tester/partial'", "partly", "offline mode"))


def test_offline_mode_uses_the_cache(hub: Path, tmp_path: Path) -> None:
    ok("tester/tiny-sd", tmp_path / "a", "--offline-mode")
    ok("tester/tiny-sd", tmp_path / "b", "-ofm", "--revision", "dev")


@pytest.mark.parametrize("flags", [(), ("--offline-mode",)])
def test_uncached_repository(hub: Path, tmp_path: Path, flags: tuple[str, ...]) -> None:
    message = fails("tester/absent", tmp_path, *flags, mentions=("'tester/absent'",))
    assert "cache" in message


def test_offline_mode_never_reaches_the_network(hub: Path, tmp_path: Path,
                                                network_attempts: list[str]) -> None:
    # HF_HUB_OFFLINE is off here: --offline-mode alone must keep every library offline
    ok("tester/tiny-sd", tmp_path / "a", "--offline-mode")
    fails("tester/absent", tmp_path / "b", "--offline-mode", mentions=("'tester/absent'",))
    fails("tester/absent", tmp_path / "c", env={"DGENERATE_OFFLINE_MODE": "1"},
          mentions=("'tester/absent'", "offline mode"))
    assert network_attempts == []


def test_hf_home_variable_in_a_fresh_process(hf_home: Path, tmp_path: Path) -> None:
    environment = clean_environment(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1",
                                    DGENERATE_DISABLE_PLUGINS="*", OMP_NUM_THREADS="1")
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):  # they would win over HF_HOME
        environment.pop(name, None)
    result = run_dgenerate(
        "tester/tiny-sd", "--output-path", str(tmp_path), "--inference-steps", "2",
        "--seeds", "1", "--revision", "dev", env=environment)
    assert result.returncode == 0, result.stderr
    assert image_of(tmp_path).size == (64, 64)


# ------------------------------------------------------------- 2. --variant


def test_variant_of_a_folder(variant_only: Path, tmp_path: Path) -> None:
    ok(variant_only, tmp_path / "a", "--variant", "fp16")
    # only fp16 files: the plain weights are not there
    fails(variant_only, tmp_path / "b", mentions=(str(variant_only), "--variant fp16"))


def test_missing_variant_falls_back_to_plain_weights(tiny_sd: Path, tmp_path: Path) -> None:
    result = ok(tiny_sd, tmp_path / "a", "--variant", "fp16", "-v")
    assert "no 'fp16' variant; loading the plain weights" in result.stderr
    ok(tiny_sd, tmp_path / "b")
    assert image_of(tmp_path / "a").tobytes() == image_of(tmp_path / "b").tobytes()


def test_variant_of_a_repository(hub: Path, tmp_path: Path) -> None:
    ok("tester/tiny-sd-fp16", tmp_path / "a", "--variant", "fp16")
    fails("tester/tiny-sd-fp16", tmp_path / "x", mentions=("'tester/tiny-sd-fp16'",
                                                          "--variant fp16"))
    result = ok("tester/tiny-sd", tmp_path / "b", "--variant", "fp16", "-v")
    assert "no 'fp16' variant; loading the plain weights" in result.stderr


# ------------------------------------------------------- 3. Hugging Face blob links


def test_blob_link_from_the_hub_cache(hub: Path, tmp_path: Path) -> None:
    link = BLOB.format(repo="tester/checkpoints", revision="main", file="tiny-sd1.safetensors")
    ok(link, tmp_path / "a")
    ok(link.replace("/blob/", "/resolve/") + "?download=true", tmp_path / "b", "--offline-mode")
    ok(BLOB.format(repo="tester/checkpoints", revision="main", file="sub/tiny-sd1.ckpt"),
       tmp_path / "c")
    # links are URL-encoded; hf.co is the short host
    ok("https://hf.co/tester/checkpoints/blob/main/with%20space.safetensors", tmp_path / "d")


def test_blob_link_not_in_the_cache(hub: Path, tmp_path: Path) -> None:
    link = BLOB.format(repo="tester/checkpoints", revision="main", file="other.safetensors")
    fails(link, tmp_path / "a", mentions=("'other.safetensors'", "'tester/checkpoints'"))
    link = BLOB.format(repo="tester/absent", revision="main", file="model.safetensors")
    fails(link, tmp_path / "b", "--offline-mode", mentions=("'tester/absent'",))
    link = BLOB.format(repo="tester/checkpoints", revision="v2", file="tiny-sd1.safetensors")
    fails(link, tmp_path / "c", mentions=("'tester/checkpoints'", "'v2'"))


def test_blob_link_to_a_file_that_is_not_a_checkpoint(hub: Path, tmp_path: Path) -> None:
    link = BLOB.format(repo="tester/checkpoints", revision="main", file="model_index.json")
    fails(link, tmp_path, mentions=(link, "not to a checkpoint", "owner/name"))


# ----------------------------------------------------- 4. URLs and the web cache


def test_url_is_downloaded_once(server: FileServer, single_file: SingleFileModel,
                                hub: Path, web_cache: dict[str, str], tmp_path: Path) -> None:
    url = server.add("/files/once/tiny-sd1.safetensors", single_file.safetensors)
    ok(url, tmp_path / "a", env=web_cache)
    assert server.hits["/files/once/tiny-sd1.safetensors"] == 1
    cached = list(Path(web_cache["DGENERATE_CACHE"], "web").glob("*/tiny-sd1.safetensors"))
    assert len(cached) == 1 and cached[0].read_bytes() == single_file.safetensors.read_bytes()
    ok(url, tmp_path / "b", env=web_cache)
    ok(url, tmp_path / "c", "--offline-mode", env=web_cache)
    assert server.hits["/files/once/tiny-sd1.safetensors"] == 1


def test_expired_entries_are_downloaded_again(server: FileServer, single_file: SingleFileModel,
                                              hub: Path, web_cache: dict[str, str],
                                              tmp_path: Path) -> None:
    path = "/files/expiry/tiny-sd1.safetensors"
    url = server.add(path, single_file.safetensors)
    ok(url, tmp_path / "a", env=web_cache)
    ok(url, tmp_path / "b", env={**web_cache, "DGENERATE_WEB_CACHE_EXPIRY_DELTA": "seconds=0"})
    assert server.hits[path] == 2
    # an entry older than the default 12 hours
    entry = next(Path(web_cache["DGENERATE_CACHE"], "web").glob("*/entry.json"))
    record = json.loads(entry.read_text())
    entry.write_text(json.dumps({**record, "fetched": time.time() - 13 * 3600}))
    ok(url, tmp_path / "c", env=web_cache)
    assert server.hits[path] == 3
    # ... and kept forever when asked
    entry.write_text(json.dumps({**record, "fetched": time.time() - 400 * 24 * 3600}))
    ok(url, tmp_path / "d", env={**web_cache, "DGENERATE_WEB_CACHE_EXPIRY_DELTA": "forever"})
    ok(url, tmp_path / "e", env={**web_cache, "DGENERATE_WEB_CACHE_EXPIRY_DELTA": "days=500"})
    assert server.hits[path] == 3


def test_offline_mode_keeps_and_uses_expired_entries(server: FileServer,
                                                     single_file: SingleFileModel, hub: Path,
                                                     web_cache: dict[str, str],
                                                     tmp_path: Path) -> None:
    path = "/files/expired-offline/tiny-sd1.safetensors"
    url = server.add(path, single_file.safetensors)
    ok(url, tmp_path / "a", env=web_cache)
    entry = next(Path(web_cache["DGENERATE_CACHE"], "web").glob("*/entry.json"))
    entry.write_text(json.dumps({**json.loads(entry.read_text()),
                                 "fetched": time.time() - 30 * 24 * 3600}))
    # offline, the expired copy is all there is: it is used, and not deleted
    ok(url, tmp_path / "b", "--offline-mode", env=web_cache)
    ok(url, tmp_path / "c", "--offline-mode",
       env={**web_cache, "DGENERATE_WEB_CACHE_EXPIRY_DELTA": "seconds=0"})
    assert entry.is_file() and server.hits[path] == 1
    ok(url, tmp_path / "d", env=web_cache)  # online, it is fetched again
    assert server.hits[path] == 2


def test_offline_mode_with_an_uncached_url(server: FileServer, single_file: SingleFileModel,
                                           web_cache: dict[str, str], tmp_path: Path) -> None:
    path = "/files/offline/tiny-sd1.safetensors"
    url = server.add(path, single_file.safetensors)
    fails(url, tmp_path, "--offline-mode", env=web_cache, mentions=(url, "offline"))
    assert path not in server.hits


def test_offline_mode_variable(server: FileServer, single_file: SingleFileModel,
                               web_cache: dict[str, str], tmp_path: Path) -> None:
    path = "/files/offline-variable/tiny-sd1.safetensors"
    url = server.add(path, single_file.safetensors)
    fails(url, tmp_path, env={**web_cache, "DGENERATE_OFFLINE_MODE": "1"},
          mentions=(url, "offline"))
    assert path not in server.hits


def test_content_disposition_names_the_file(server: FileServer, single_file: SingleFileModel,
                                            hub: Path, web_cache: dict[str, str],
                                            tmp_path: Path) -> None:
    url = server.add("/api/download/models/7", single_file.safetensors, headers={
        "Content-Disposition": 'attachment; filename="served-name.safetensors"'})
    ok(url + "?type=Model&format=SafeTensor", tmp_path / "a", env=web_cache)
    files = [path.name for path in Path(web_cache["DGENERATE_CACHE"], "web").glob("*/*")]
    assert "served-name.safetensors" in files
    # a name that tries to leave the cache folder keeps only its last part
    url = server.add("/api/download/models/8", single_file.safetensors, headers={
        "Content-Disposition": 'attachment; filename="../../escape.safetensors"'})
    ok(url, tmp_path / "b", env=web_cache)
    assert not Path(web_cache["DGENERATE_CACHE"], "escape.safetensors").exists()
    assert list(Path(web_cache["DGENERATE_CACHE"], "web").glob("*/escape.safetensors"))
    # RFC 5987 names; names that are no file name at all fall back to the URL's
    url = server.add("/api/download/models/9", single_file.safetensors, headers={
        "Content-Disposition": "attachment; filename*=UTF-8''caf%C3%A9%20model.safetensors"})
    ok(url, tmp_path / "c", env=web_cache)
    assert list(Path(web_cache["DGENERATE_CACHE"], "web").glob("*/café model.safetensors"))
    url = server.add("/files/dotdot/fallback.safetensors", single_file.safetensors,
                     headers={"Content-Disposition": 'attachment; filename=".."'})
    ok(url, tmp_path / "d", env=web_cache)
    assert list(Path(web_cache["DGENERATE_CACHE"], "web").glob("*/fallback.safetensors"))


@pytest.mark.parametrize("value", ["fortnight=2", "days=five", "days", "hours=1;bogus",
                                   "days=nan", "hours=inf", "weeks=1e20"])
def test_bad_expiry_value(server: FileServer, single_file: SingleFileModel, value: str,
                          web_cache: dict[str, str], tmp_path: Path) -> None:
    url = server.add("/files/expiry-value/tiny-sd1.safetensors", single_file.safetensors)
    fails(url, tmp_path, env={**web_cache, "DGENERATE_WEB_CACHE_EXPIRY_DELTA": value},
          mentions=("DGENERATE_WEB_CACHE_EXPIRY_DELTA",))


def test_http_errors(server: FileServer, web_cache: dict[str, str], tmp_path: Path) -> None:
    url = server.base + "/files/nothing-here.safetensors"
    fails(url, tmp_path / "a", env=web_cache, mentions=(url, "404"))
    url = server.add("/files/broken.safetensors", b"oops", status=500)
    fails(url, tmp_path / "b", env=web_cache, mentions=(url, "500"))
    assert not list(Path(web_cache["DGENERATE_CACHE"]).rglob("*.safetensors"))


def test_unreachable_url(web_cache: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.safetensors"
    fails(url, tmp_path, env=web_cache, mentions=(url,))


# ------------------------------------------- 5. single-file checkpoints (LDM layout)


def test_ldm_conversion_round_trips(single_file: SingleFileModel) -> None:
    """Our diffusers -> LDM conversion, read back by diffusers' own converters."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )
    from safetensors.torch import load_file

    pipeline = StableDiffusionPipeline.from_pretrained(single_file.folder)
    ldm = load_file(single_file.safetensors)
    # pickle checkpoints must load with weights_only=True (diffusers loads them so)
    pickled = torch.load(single_file.ckpt, weights_only=True)["state_dict"]
    assert pickled.keys() == ldm.keys()
    for name, back in (
            ("unet", convert_ldm_unet_checkpoint(ldm, pipeline.unet.config)),
            ("vae", convert_ldm_vae_checkpoint(ldm, pipeline.vae.config)),
            ("text_encoder", {key.removeprefix("text_model."): value for key, value in
                              convert_ldm_clip_checkpoint(ldm).items()})):
        reference = getattr(pipeline, name).state_dict()
        assert back.keys() == reference.keys(), name
        for key, value in reference.items():
            assert torch.equal(back[key], value), (name, key)


@pytest.mark.parametrize("suffix", ["safetensors", "ckpt"])
def test_single_file_with_original_config(single_file: SingleFileModel, hub: Path,
                                          tmp_path: Path, suffix: str) -> None:
    # (diffusers sizes the UNet from the model type here, 512 px for SD 1.x, not from the
    # yaml: the render asks for 64x64 explicitly, as every render in this file does)
    ok(getattr(single_file, suffix), tmp_path, "--original-config", str(single_file.yaml))


@pytest.mark.parametrize("suffix", ["safetensors", "ckpt", "pt"])
def test_single_file_without_config(single_file: SingleFileModel, hub: Path, tmp_path: Path,
                                    suffix: str) -> None:
    ok(getattr(single_file, suffix), tmp_path, "--offline-mode")


def test_single_file_is_the_same_model(single_file: SingleFileModel, hub: Path,
                                       tmp_path: Path) -> None:
    ok(single_file.folder, tmp_path / "folder")
    ok(single_file.safetensors, tmp_path / "file")
    assert image_of(tmp_path / "folder").tobytes() == image_of(tmp_path / "file").tobytes()


def test_single_file_original_config_legacy_cache(single_file: SingleFileModel,
                                                  legacy_hf_home: Path, use_hf_home,
                                                  tmp_path: Path) -> None:
    # no stable-diffusion-v1-5 configs cached: diffusers builds the pipeline from the yaml
    # and the tokenizer / text config of openai/clip-vit-large-patch14
    use_hf_home(legacy_hf_home)
    ok(single_file.safetensors, tmp_path / "a", "--original-config", str(single_file.yaml))
    ok(single_file.ckpt, tmp_path / "b", "--original-config", str(single_file.yaml),
       "--offline-mode")


def test_single_file_configs_not_cached(single_file: SingleFileModel, use_hf_home,
                                        tmp_path: Path) -> None:
    use_hf_home(tmp_path / "empty-hf-home")
    fails(single_file.safetensors, tmp_path / "a",
          mentions=(str(single_file.safetensors), "stable-diffusion-v1-5/stable-diffusion-v1-5",
                    "--original-config"))
    fails(single_file.safetensors, tmp_path / "b", "--original-config", str(single_file.yaml),
          mentions=(str(single_file.safetensors), "openai/clip-vit-large-patch14"))


def test_single_file_without_config_in_offline_mode_stays_offline(
        single_file: SingleFileModel, use_hf_home, tmp_path: Path,
        network_attempts: list[str]) -> None:
    # diffusers retries a missing config download with local_files_only=False
    use_hf_home(tmp_path / "empty-hf-home")
    fails(single_file.safetensors, tmp_path / "a", "--offline-mode",
          mentions=(str(single_file.safetensors), "stable-diffusion-v1-5/stable-diffusion-v1-5"))
    assert network_attempts == []


def test_missing_original_config(single_file: SingleFileModel, hub: Path,
                                 tmp_path: Path) -> None:
    fails(single_file.safetensors, tmp_path, "--original-config",
          str(tmp_path / "nowhere.yaml"), mentions=("--original-config", "nowhere.yaml"))


# ------------------------------------------------------------- 6. bad sources


@pytest.mark.parametrize("name", ["notes.txt", "picture.png"])
def test_file_that_is_not_a_checkpoint(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("not a model")
    fails(path, tmp_path / "out", mentions=(str(path), "not a checkpoint"))


@pytest.mark.parametrize("name", ["garbage.safetensors", "garbage.ckpt", "empty.pt"])
def test_checkpoint_suffix_with_bad_content(tmp_path: Path, hub: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else os.urandom(256))
    fails(path, tmp_path / "out", mentions=(str(path), "cannot be read"))


def test_pickle_that_is_not_weights_only(tmp_path: Path, hub: Path) -> None:
    import torch

    path = tmp_path / "code.ckpt"
    torch.save({"state_dict": {}, "thing": Path("/")}, path)  # arbitrary objects: refused
    fails(path, tmp_path / "out",
          mentions=(str(path), f"pathlib.{type(Path('/')).__name__}", "weights_only=True"))


def test_checkpoint_of_no_known_model(tmp_path: Path, hub: Path) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "unrelated.safetensors"
    save_file({"some.weight": torch.zeros(2, 2)}, path)
    fails(path, tmp_path / "out", mentions=(str(path),))


@pytest.mark.parametrize("name", ["missing-folder", "missing.safetensors", "./relative/x",
                                  "owner/name/extra"])
def test_missing_file_or_folder(tmp_path: Path, name: str) -> None:
    path = name if name.startswith(".") or name.count("/") > 1 else str(tmp_path / name)
    fails(path, tmp_path / "out", mentions=(repr(path),))


def test_url_that_is_not_a_checkpoint(server: FileServer, web_cache: dict[str, str],
                                      tmp_path: Path) -> None:
    url = server.add("/pages/index.html", b"<html>hello</html>",
                     headers={"Content-Type": "text/html"})
    fails(url, tmp_path / "a", env=web_cache, mentions=(url, "index.html", "not a checkpoint"))
    url = server.add("/files/fake.safetensors", b"not safetensors at all")
    fails(url, tmp_path / "b", env=web_cache, mentions=("fake.safetensors",))
