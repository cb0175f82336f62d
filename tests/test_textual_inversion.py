"""--textual-inversions: embeddings from files, folders, repositories and URLs reach the text
encoders; the token rules; errors before loading where possible.

Every embedding is built here from random vectors (tests/tiny_submodels.py). Evidence that
an embedding is used: a prompt with its token renders differently than without the
embedding, the same prompt without the token renders exactly as if nothing were loaded, and
the same vectors under another token or from another file format render identically.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import DgenerateError
from dgenerate.plugin_api.testing import run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve
from .support import BUILTIN_ONLY
from .tiny_submodels import (
    build_ti_a1111_pt,
    build_ti_a1111_safetensors,
    build_ti_diffusers_bin,
    build_ti_sdxl,
    ti_vectors,
)

PROMPT = "a red <tiny> circle"
PLAIN_PROMPT = "a red circle"
COMMON = ("--seeds", "7", "--inference-steps", "2", "--output-size", "64")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("embeddings")
    pt = build_ti_a1111_pt(root / "tiny.pt", "<tiny>", seed=0)
    folder = root / "folder"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(pt, folder / "sub" / "a.pt")
    build_ti_a1111_pt(folder / "sub" / "b.pt", "<b>", seed=9)
    build_ti_diffusers_bin(folder / "learned_embeds.bin", "<tiny>", seed=0)
    not_embedding = root / "unet.safetensors"
    save_file({"conv.weight": ti_vectors(4), "conv.bias": ti_vectors(1)[0],
               "norm.weight": ti_vectors(1)[0]}, str(not_embedding))
    # 16 values: trained for another text encoder than the tiny ones (32 wide)
    narrow = root / "narrow.bin"
    torch.save({"<narrow>": ti_vectors(1, size=16)[0]}, narrow)
    garbage = root / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint\n")
    return SimpleNamespace(
        root=root, pt=pt, folder=folder, not_embedding=not_embedding, garbage=garbage,
        # the same vectors as tiny.pt, in the diffusers format, under the same token
        bin=build_ti_diffusers_bin(root / "tiny.bin", "<tiny>", seed=0),
        # the same token, other vectors
        other=build_ti_a1111_pt(root / "other.pt", "<tiny>", seed=5),
        multi=build_ti_a1111_safetensors(root / "two words.safetensors", count=2),
        narrow=narrow,
        sdxl=build_ti_sdxl(root / "my style.safetensors", count=2),  # multi-vector
    )


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def render(model: Path, out: Path, prompt: str, *args: str,
           common: tuple[str, ...] = COMMON) -> np.ndarray:
    result = run_cli(str(model), "--prompts", prompt, *common, "--output-path", str(out),
                     *args, env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    (image,) = sorted(out.glob("*.png"))
    with Image.open(image) as opened:
        return np.asarray(opened.convert("RGB"))


def fails(model: Path | str, tmp_path: Path, *args: str, says: tuple[str, ...],
          dry_run: bool = True) -> str:
    result = run_cli(str(model), "--prompts", PROMPT, *COMMON, "--output-path",
                     str(tmp_path / "refused"), *args, *(("--dry-run",) if dry_run else ()),
                     env=BUILTIN_ONLY)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for text in says:
        assert text in result.stderr, result.stderr
    return result.stderr


# --------------------------------------------------------------- Stable Diffusion


def test_sd_embeddings_change_only_prompts_with_their_token(
        tiny_sd: Path, files: SimpleNamespace, tmp_path: Path) -> None:
    plain = render(tiny_sd, tmp_path / "plain", PROMPT)
    loaded = render(tiny_sd, tmp_path / "pt", PROMPT, "-ti", str(files.pt))
    assert not np.array_equal(plain, loaded)
    # loaded but not named in the prompt: exactly the plain render
    assert np.array_equal(render(tiny_sd, tmp_path / "p2", PLAIN_PROMPT),
                          render(tiny_sd, tmp_path / "pt2", PLAIN_PROMPT,
                                 "--textual-inversions", str(files.pt)))
    # the diffusers {token: vector} format with the same vector: the same image
    assert np.array_equal(loaded, render(tiny_sd, tmp_path / "bin", PROMPT, "-ti",
                                         str(files.bin)))
    # the same token with other vectors: another image (the vectors are used)
    assert not np.array_equal(loaded, render(tiny_sd, tmp_path / "other", PROMPT, "-ti",
                                             str(files.other)))
    # token= renames the word; the vectors stay
    assert np.array_equal(loaded, render(tiny_sd, tmp_path / "renamed", "a red <mine> circle",
                                         "-ti", f"{files.pt};token=<mine>"))


def test_multi_vector_file_name_token_and_several_embeddings(
        tiny_sd: Path, files: SimpleNamespace, tmp_path: Path) -> None:
    # A1111 safetensors store no token: the file name is used, its space made "_"
    prompt = "a two_words circle on the <tiny> left"
    plain = render(tiny_sd, tmp_path / "plain", prompt)
    both = render(tiny_sd, tmp_path / "both", prompt, "-ti", str(files.multi), str(files.pt))
    only_pt = render(tiny_sd, tmp_path / "pt", prompt, "-ti", str(files.pt))
    assert not np.array_equal(plain, both) and not np.array_equal(only_pt, both)


def test_img2img_uses_the_embedding(tiny_sd: Path, files: SimpleNamespace, tmp_path: Path,
                                    media: Path) -> None:
    seed = ("--image-seeds", str(media / "horse1.jpg"))
    plain = render(tiny_sd, tmp_path / "plain", PROMPT, *seed)
    loaded = render(tiny_sd, tmp_path / "ti", PROMPT, *seed, "-ti", str(files.pt))
    assert not np.array_equal(plain, loaded)


def test_folder_url_and_repository_sources(tiny_sd: Path, files: SimpleNamespace,
                                           tmp_path: Path, server: FileServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reference = render(tiny_sd, tmp_path / "file", PROMPT, "-ti", str(files.pt))
    # a folder: a named file in a subfolder, or diffusers' learned_embeds.bin by default
    assert np.array_equal(reference, render(tiny_sd, tmp_path / "folder", PROMPT, "-ti",
                                            f"{files.folder};subfolder=sub;weight-name=a.pt"))
    assert np.array_equal(reference, render(tiny_sd, tmp_path / "default", PROMPT, "-ti",
                                            str(files.folder)))
    # a URL, through the web cache
    url = server.add("/files/tiny.pt", files.pt)
    monkeypatch.setenv("DGENERATE_CACHE", str(tmp_path / "web-cache"))
    assert np.array_equal(reference, render(tiny_sd, tmp_path / "url", PROMPT, "-ti", url))
    assert server.hits["/files/tiny.pt"] == 1
    # a Hugging Face repository (in a local hub cache), with a revision
    from huggingface_hub import constants

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/embeddings", {
        "main": {"sub/a.pt": files.pt}, "dev": {"sub/a.pt": files.other}})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert np.array_equal(reference, render(tiny_sd, tmp_path / "hub", PROMPT, "-ti",
                                            "tester/embeddings;subfolder=sub;weight-name=a.pt"))
    assert not np.array_equal(reference, render(
        tiny_sd, tmp_path / "dev", PROMPT, "-ti",
        "tester/embeddings;weight-name=sub/a.pt;revision=dev"))
    fails(tiny_sd, tmp_path, "-ti", "tester/embeddings", dry_run=False, says=(
        "'learned_embeds.safetensors' or 'learned_embeds.bin' of the Hugging Face repository "
        "'tester/embeddings' is not in the Hugging Face cache", "weight-name=NAME"))


def test_output_config_reproduces_and_scripts_reuse_the_pipeline(
        tiny_sd: Path, files: SimpleNamespace, tmp_path: Path) -> None:
    first = render(tiny_sd, tmp_path / "first", PROMPT, "-ti", f"{files.pt};token=<tiny>",
                   "--output-configs")
    (config,) = (tmp_path / "first").glob("*.dgen")
    assert f"--textual-inversions '{files.pt};token=<tiny>'" in config.read_text() or (
        f'--textual-inversions "{files.pt};token=<tiny>"' in config.read_text())
    again = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"),
                    env=BUILTIN_ONLY)
    assert again.exit_code == 0, again.stderr
    (image,) = (tmp_path / "again").glob("*.png")
    with Image.open(image) as opened:
        assert np.array_equal(first, np.asarray(opened.convert("RGB")))
    # one process: the same set twice (the cached pipeline already knows the token), then
    # another set (a fresh pipeline: no "token already in the tokenizer")
    script = tmp_path / "script.dgen"
    script.write_text(textwrap.dedent(f"""\
        {tiny_sd} --prompts "{PROMPT}" -ti "{files.pt}" --output-path {tmp_path / "s1"}
        {tiny_sd} --prompts "{PROMPT}" -ti "{files.pt}" --output-path {tmp_path / "s2"}
        {tiny_sd} --prompts "{PROMPT}" -ti "{files.pt}" "{files.bin};token=<t2>" \\
            --output-path {tmp_path / "s3"}
        \\print uris={{{{ last_textual_inversion_uris }}}}
        """))
    result = run_cli("--file", str(script), "--seeds", "7", "--inference-steps", "2",
                     "--output-size", "64", "-v", env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    assert f"uris=['{files.pt}', '{files.bin};token=<t2>']" in result.stdout
    assert result.stderr.count(f"reading '{files.pt}'") == 1  # read once, then cached
    for folder in ("s1", "s2", "s3"):
        (image,) = (tmp_path / folder).glob("*.png")
        with Image.open(image) as opened:
            assert np.array_equal(first, np.asarray(opened.convert("RGB")))


# ------------------------------------------------------------ Stable Diffusion XL


def test_sdxl_uses_the_file_name_as_token(tiny_sdxl: Path, files: SimpleNamespace,
                                          tmp_path: Path) -> None:
    sdxl = ("--model-type", "sdxl")
    prompt = "a red my_style circle"
    plain = render(tiny_sdxl, tmp_path / "plain", prompt, *sdxl)
    loaded = render(tiny_sdxl, tmp_path / "ti", prompt, *sdxl, "-ti", str(files.sdxl))
    assert not np.array_equal(plain, loaded)
    assert np.array_equal(loaded, render(tiny_sdxl, tmp_path / "renamed", "a red <s> circle",
                                         *sdxl, "-ti", f"{files.sdxl};token=<s>"))
    assert np.array_equal(render(tiny_sdxl, tmp_path / "p2", PLAIN_PROMPT, *sdxl),
                          render(tiny_sdxl, tmp_path / "ti2", PLAIN_PROMPT, *sdxl, "-ti",
                                 str(files.sdxl)))
    fails(tiny_sdxl, tmp_path, *sdxl, "-ti", str(files.pt), dry_run=False,
          says=("Stable Diffusion 1.x/2.x embedding", "needs clip_l and clip_g"))


# ------------------------------------------------------------- the other families


@pytest.mark.parametrize(("family", "fixture", "size", "embedding"), [
    ("pix2pix", "tiny_pix2pix", 64, "pt"),
    ("upscaler-x4", "tiny_upscaler_x4", 16, "pt"),
    ("sdxl-pix2pix", "tiny_sdxl_pix2pix", 64, "sdxl"),
])
def test_every_family_with_the_slot_takes_embeddings(
        family: str, fixture: str, size: int, embedding: str, files: SimpleNamespace,
        tmp_path: Path, media: Path, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(fixture)
    common = ("--model-type", family, "--seeds", "7", "--inference-steps", "2",
              "--image-seeds", f"{media / 'horse1.jpg'};resize={size}x{size};aspect=false")
    prompt = "a red <tiny> my_style circle"
    plain = render(model, tmp_path / "plain", prompt, common=common)
    loaded = render(model, tmp_path / "ti", prompt, "-ti", str(getattr(files, embedding)),
                    common=common)
    assert not np.array_equal(plain, loaded)


# ------------------------------------------------------------------------ errors


def test_uri_mistakes_are_refused_before_loading(files: SimpleNamespace,
                                                 tmp_path: Path) -> None:
    model = "embedded:shapes"
    fails(model, tmp_path, "-ti", f"{files.pt};tokn=x", says=(
        f"--textual-inversions '{files.pt};tokn=x' has no argument 'tokn'; did you mean "
        "'token'?", "token, revision, subfolder, weight-name"))
    fails(model, tmp_path, "-ti", "https://huggingface.co/owner/repo/blob/dev/sub/x%20y.pt",
          says=("blob links are not accepted",
                '"owner/repo;weight-name=x y.pt;subfolder=sub;revision=dev"'))
    fails(model, tmp_path, "-ti", str(tmp_path / "nope.pt"), says=("does not exist",))
    fails(model, tmp_path, "-ti", f"{files.pt};weight-name=a.pt;revision=x", says=(
        "is a single file, which takes only the token argument",
        "'weight-name', 'revision' apply to a Hugging Face repository"))
    fails(model, tmp_path, "-ti", "http://127.0.0.1:9/x.pt;subfolder=a",
          says=("is a URL of a single file, which takes only the token argument",))
    fails(model, tmp_path, "-ti", f"{files.folder};revision=dev",
          says=("'revision' applies to Hugging Face repositories",))
    fails(model, tmp_path, "-ti", f"{files.folder};weight-name=c.pt",
          says=("has no file 'c.pt'",))
    fails(model, tmp_path, "-ti", f"{files.folder};subfolder=sub",
          says=("weight-name=NAME; it holds 'a.pt', 'b.pt'",))
    fails(model, tmp_path, "-ti", f"{files.pt};token=<x>", f"{files.bin};token=<x>",
          says=("both use the token '<x>'",))
    fails(model, tmp_path, "-ti", f"{files.pt};token=", says=("'token' is empty",))
    fails("some/model", tmp_path, "--model-type", "upscaler-x2", "--image-seeds", "x.png",
          "-ti", str(files.pt), says=(
              "--textual-inversions does not apply to --model-type upscaler-x2",))


def test_file_mistakes_are_refused_when_loading(tiny_sd: Path, files: SimpleNamespace,
                                                tmp_path: Path) -> None:
    def refused(*uris: str, says: tuple[str, ...]) -> None:
        fails(tiny_sd, tmp_path, "-ti", *uris, says=says, dry_run=False)

    refused(str(files.not_embedding), says=(
        "is not a textual inversion embedding (it holds 3 entries: 'conv.bias', 'conv.weight',"
        " 'norm.weight')",))
    refused(str(files.garbage), says=("the file is not a PyTorch or safetensors file",))
    refused(str(files.sdxl), says=("holds a Stable Diffusion XL embedding",))
    refused(f"{files.pt};token=a", says=("the token 'a' is already a word",))
    refused(str(files.pt), str(files.other), says=("both use the token '<tiny>'",))
    refused(str(files.narrow), says=("have 16 values, but the text encoder of this model takes "
                                   "32",))


def test_a_pipeline_without_a_loader_is_refused_before_loading() -> None:
    from diffusers import StableDiffusionLatentUpscalePipeline

    from dgenerate.plugin_api import LoadTarget
    from dgenerate.plugins_builtin.submodels.textual_inversion.loader import TextualInversions

    kind = TextualInversions(context=SimpleNamespace())
    target = LoadTarget(model_type="x2", pipeline_class=StableDiffusionLatentUpscalePipeline,
                        dtype=None, device="cpu")
    with pytest.raises(DgenerateError, match="StableDiffusionLatentUpscalePipeline pipeline "
                                             "of --model-type x2 cannot load textual"):
        kind.components({"textual_inversion_uris": ("x.pt",)}, target)


@pytest.mark.parametrize("folder", ["text_encoder", "text_encoder_2"])
def test_a_shared_text_encoder_keeps_its_vocabulary(tiny_sdxl: Path, folder: str) -> None:
    """A text encoder given to several pipelines (by a text encoder sub-model) is not grown
    for one of them: the embedding goes into a copy sharing every other weight."""
    import torch
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from dgenerate.plugins_builtin.submodels.textual_inversion.loader import own_text_encoder

    cls = CLIPTextModel if folder == "text_encoder" else CLIPTextModelWithProjection
    shared = cls.from_pretrained(tiny_sdxl / folder)
    size = shared.config.vocab_size
    own = own_text_encoder(shared)
    own.resize_token_embeddings(size + 2, mean_resizing=False)
    assert own.get_input_embeddings().weight.shape[0] == own.config.vocab_size == size + 2
    assert shared.get_input_embeddings().weight.shape[0] == shared.config.vocab_size == size
    for (name, weight), (_, copied) in zip(shared.named_parameters(), own.named_parameters(),
                                           strict=True):
        assert (weight is copied) != ("token_embedding" in name), name
    ids = torch.tensor([[size - 2, 5, 7, size - 1]])
    with torch.no_grad():
        assert torch.equal(shared(ids).last_hidden_state, own(ids).last_hidden_state)
