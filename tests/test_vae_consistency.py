"""--vae ConsistencyDecoderVAE: a tiny random one, rendered with through the command line.

Its decoder is a small diffusion model of its own whose noise follows the seed: the picture
differs from the one of the model's own VAE, a written configuration gives it again bit for
bit, a folder and a Hugging Face repository (an offline cache) give the same picture, and
--vae-tiling / --vae-slicing (which it applies to encoding only) are said to be so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY, MEDIA, render_quick
from .test_vae import COMMON, picture, rendered
from .tiny_submodels import build_vae_consistency

IMG2IMG = ("--image-seeds", f"{MEDIA / 'horse1.jpg'};64")
SD = ("--model-type", "sd")


@pytest.fixture(scope="module")
def consistency(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vae_consistency(tmp_path_factory.mktemp("vae-consistency") / "cd")


def replayed(out: Path, again: Path) -> np.ndarray:
    (config,) = out.glob("*.dgen")
    result = run_cli("--file", str(config), "--output-path", str(again), env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    return picture(again)


@pytest.mark.parametrize("mode", ["txt2img", "img2img"])
def test_it_renders_and_its_configs_replay(tiny_sd: Path, consistency: Path, tmp_path: Path,
                                           mode: str) -> None:
    args = (*SD, *(IMG2IMG if mode == "img2img" else ()))
    plain = rendered(tiny_sd, tmp_path / "plain", *args)
    ours = rendered(tiny_sd, tmp_path / "ours", *args, "--vae",
                    f"ConsistencyDecoderVAE;model={consistency}", "--output-configs")
    assert ours.shape == plain.shape and not np.array_equal(ours, plain)
    written = next((tmp_path / "ours").glob("*.dgen")).read_text()
    assert f"--vae 'ConsistencyDecoderVAE;model={consistency}'" in written
    assert np.array_equal(replayed(tmp_path / "ours", tmp_path / "again"), ours)


def test_a_repository_in_the_hub_cache(tiny_sd: Path, consistency: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from .source_fixtures import hub_cache_entry

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/consistency-decoder", {"main": consistency})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    folder = rendered(tiny_sd, tmp_path / "folder", *SD, "--vae",
                      f"ConsistencyDecoderVAE;{consistency}")
    hub = rendered(tiny_sd, tmp_path / "hub", *SD, "--offline-mode", "--vae",
                   "ConsistencyDecoderVAE;model=tester/consistency-decoder;revision=main")
    assert np.array_equal(hub, folder)


def test_tiling_and_slicing_apply_to_encoding_only(tiny_sd: Path, consistency: Path,
                                                   tmp_path: Path) -> None:
    vae = ("--vae", f"ConsistencyDecoderVAE;model={consistency}")
    whole = rendered(tiny_sd, tmp_path / "whole", *SD, *vae)
    result = render_quick(tiny_sd, tmp_path / "tiled", *COMMON, *SD, *vae, "--vae-tiling",
                          "--vae-slicing")
    assert result.exit_code == 0, result.stderr
    assert ("ConsistencyDecoderVAE decodes whole pictures; --vae-tiling and --vae-slicing "
            "only apply to its encoding of input images") in result.stderr
    assert np.array_equal(picture(tmp_path / "tiled"), whole)
