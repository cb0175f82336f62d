"""``--textual-inversions`` with ``--model-type flux``: Flux embeddings (``clip_l``, and maybe
``t5``) and Stable Diffusion 1.x ones on the tiny Flux model, through the command line.

Evidence that an embedding is used: a prompt with its token renders differently than
without the embedding, and a prompt without the token renders exactly as if nothing were
loaded.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY
from .tiny_submodels import build_ti_a1111_pt, build_ti_sdxl, ti_vectors

COMMON = ("--seeds", "7", "--inference-steps", "2", "--output-size", "64")
PROMPT = "a red my_style circle"


@pytest.fixture(scope="module")
def flux_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .tiny_flux import build_flux

    return build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


def _save(path: Path, tensors: dict) -> Path:
    import os

    from safetensors.torch import save_file

    save_file({key: value.contiguous() for key, value in tensors.items()}, str(path))
    os.chmod(path, 0o644)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Embeddings: ``clip`` (Flux, clip_l only, 2 vectors: "my style.safetensors"),
    ``both`` (the same clip_l vectors plus t5 ones, same file name in another folder),
    ``sd`` (an A1111 .pt storing the token "<tiny>"), ``sdxl``."""
    root = tmp_path_factory.mktemp("flux-embeddings")
    (root / "both").mkdir()
    clip = ti_vectors(2, seed=3)
    return SimpleNamespace(
        clip=_save(root / "my style.safetensors", {"clip_l": clip}),
        both=_save(root / "both" / "my style.safetensors",
                   {"clip_l": clip, "t5": ti_vectors(2, seed=4)}),
        sd=build_ti_a1111_pt(root / "one set.pt", "<tiny>", seed=0),
        sdxl=build_ti_sdxl(root / "xl style.safetensors"),
    )


def render(model: Path, out: Path, prompt: str, *args: str,
           model_type: str = "flux") -> tuple[np.ndarray, str]:
    """The image and the debug output (``-v``) of one render."""
    result = run_cli(str(model), "--model-type", model_type, "--prompts", prompt, *COMMON,
                     "--output-path", str(out), "-v", *args, env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    (image,) = sorted(out.glob("*.png"))
    with Image.open(image) as opened:
        return np.asarray(opened.convert("RGB")), result.stderr


def call_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "pipeline call:" in line)


def test_a_flux_embedding_reaches_the_clip_and_t5_encoders(
        flux_model: Path, files: SimpleNamespace, tmp_path: Path) -> None:
    plain, _ = render(flux_model, tmp_path / "plain", PROMPT)
    clip, stderr = render(flux_model, tmp_path / "clip", PROMPT, "-ti", str(files.clip))
    both, _ = render(flux_model, tmp_path / "both", PROMPT, "-ti", str(files.both))
    assert not np.array_equal(plain, clip)
    assert not np.array_equal(clip, both)  # the t5 vectors are used too
    # the token is the file name, its space made "_"
    assert "loaded as the token 'my_style'" in stderr
    # token= renames the word; the vectors stay
    renamed, _ = render(flux_model, tmp_path / "renamed", "a red <s> circle", "-ti",
                        f"{files.both};token=<s>")
    assert np.array_equal(renamed, both)
    # loaded but not named in the prompt: exactly the plain render
    assert np.array_equal(render(flux_model, tmp_path / "p2", "a red circle")[0],
                          render(flux_model, tmp_path / "b2", "a red circle", "-ti",
                                 str(files.both))[0])


def test_a_stable_diffusion_embedding_fits_the_clip_encoder(
        flux_model: Path, files: SimpleNamespace, tmp_path: Path) -> None:
    prompt = "a red one_set circle"
    plain, _ = render(flux_model, tmp_path / "plain", prompt)
    # as for SDXL, the token is the file name, not the one stored in the file
    loaded, stderr = render(flux_model, tmp_path / "sd", prompt, "-ti", str(files.sd))
    assert "loaded as the token 'one_set'" in stderr
    assert not np.array_equal(plain, loaded)


def test_pipelines_without_diffusers_loader_get_expanded_prompts(
        flux_model: Path, files: SimpleNamespace, tmp_path: Path, media: Path) -> None:
    """FluxImg2ImgPipeline and FluxInpaintPipeline write out no multi-vector tokens: the
    prompt reaches them with the extra tokens already written."""
    horse, mask = media / "horse1.jpg", media / "horse1-mask.jpg"
    for mode, seed in (("img2img", f"{horse}"), ("inpaint", f"{horse};mask={mask}")):
        plain, _ = render(flux_model, tmp_path / f"{mode}-plain", PROMPT,
                          "--image-seeds", seed)
        loaded, stderr = render(flux_model, tmp_path / mode, PROMPT, "--image-seeds", seed,
                                "-ti", str(files.both))
        assert "prompt=['a red my_style my_style_1 circle']" in call_line(stderr), mode
        assert not np.array_equal(plain, loaded), mode
    # txt2img: FluxPipeline does it itself
    _, stderr = render(flux_model, tmp_path / "txt2img", PROMPT, "-ti", str(files.both))
    assert f"prompt=[{PROMPT!r}]" in call_line(stderr)


def test_with_a_controlnet(flux_model: Path, files: SimpleNamespace, tmp_path: Path,
                           media: Path) -> None:
    """The Flux ControlNet pipelines, txt2img and inpaint, use the embedding."""
    from .tiny_flux_ip_adapter import build_flux_controlnet

    controlnet = ("--control-nets", str(build_flux_controlnet(tmp_path / "cn")))
    horse, mask = media / "horse1.jpg", media / "horse1-mask.jpg"
    for mode, seed in (("txt2img", f"{horse}"),
                       ("inpaint", f"{horse};mask={mask};control={horse}")):
        arguments = (*controlnet, "--image-seeds", seed)
        plain, _ = render(flux_model, tmp_path / f"{mode}-plain", PROMPT, *arguments)
        loaded, stderr = render(flux_model, tmp_path / mode, PROMPT, *arguments, "-ti",
                                str(files.clip))
        assert "prompt=['a red my_style my_style_1 circle']" in call_line(stderr), mode
        assert not np.array_equal(plain, loaded), mode


def test_embeddings_for_other_models_are_refused(flux_model: Path, tiny_sd: Path,
                                                 files: SimpleNamespace, tmp_path: Path) -> None:
    result = run_cli(str(flux_model), "--model-type", "flux", "--prompts", PROMPT, *COMMON,
                     "--output-path", str(tmp_path / "a"), "-ti", str(files.sdxl),
                     env=BUILTIN_ONLY)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert ("the file holds a Stable Diffusion XL embedding (clip_l and clip_g), but "
            "--model-type flux takes clip_l vectors") in result.stderr
    result = run_cli(str(tiny_sd), "--prompts", PROMPT, "--inference-steps", "2",
                     "--output-size", "64", "--output-path", str(tmp_path / "b"), "-ti",
                     str(files.both), env=BUILTIN_ONLY)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert ("the file holds a Flux embedding (clip_l, and maybe t5), but --model-type sd has "
            "one text encoder") in result.stderr


def test_flux_fill_takes_embeddings(files: SimpleNamespace, tmp_path: Path,
                                    media: Path) -> None:
    from .tiny_transformer_variants import build_flux_fill

    model = build_flux_fill(tmp_path / "flux-fill")
    arguments = ("--image-seeds", f"{media / 'horse1.jpg'};mask={media / 'horse1-mask.jpg'}")
    plain, _ = render(model, tmp_path / "plain", PROMPT, *arguments, model_type="flux-fill")
    loaded, stderr = render(model, tmp_path / "ti", PROMPT, *arguments, "-ti", str(files.both),
                            model_type="flux-fill")
    assert "loaded as the token 'my_style'" in stderr
    assert not np.array_equal(plain, loaded)


def test_a_shared_t5_encoder_keeps_its_vocabulary(flux_model: Path) -> None:
    """T5 holds its token embeddings twice (``shared`` and ``encoder.embed_tokens``): the
    copy that grows must leave both of the shared encoder alone."""
    import torch
    from transformers import T5EncoderModel

    from dgenerate.plugins_builtin.submodels.textual_inversion.loader import own_text_encoder

    shared = T5EncoderModel.from_pretrained(flux_model / "text_encoder_2")
    size = shared.config.vocab_size
    own = own_text_encoder(shared)
    own.resize_token_embeddings(size + 2, mean_resizing=False)
    assert own.get_input_embeddings().weight.shape[0] == size + 2
    assert own.encoder.embed_tokens.weight.shape[0] == size + 2
    assert shared.shared.weight.shape[0] == shared.encoder.embed_tokens.weight.shape[0] == size
    assert shared.config.vocab_size == size
    ids = torch.tensor([[size - 2, 5, 7, size - 1]])
    with torch.no_grad():
        assert torch.equal(shared(ids).last_hidden_state, own(ids).last_hidden_state)
