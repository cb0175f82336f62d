"""The transformer and cascade families load through the paths users take: a repository id
resolved offline from the Hugging Face cache draws the picture the folder draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .support import render_ok as ok


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from .tiny_flux import build_flux
    from .tiny_s_cascade import build_decoder, build_prior
    from .tiny_sd3 import build_sd3
    from .tiny_transformer_variants import build_flux_fill, build_sd3_pix2pix

    root = tmp_path_factory.mktemp("family-sources")
    return {"sd3": build_sd3(root / "sd3"), "flux": build_flux(root / "flux"),
            "sd3-pix2pix": build_sd3_pix2pix(root / "sd3-pix2pix"),
            "flux-fill": build_flux_fill(root / "flux-fill"),
            "prior": build_prior(root / "prior"), "decoder": build_decoder(root / "decoder")}


def _pixels(folder: Path) -> np.ndarray:
    [path] = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(("model_type", "folder", "repository", "extra"), [
    ("sd3", "sd3", "stabilityai/stable-diffusion-3.5-medium", []),
    ("flux", "flux", "black-forest-labs/FLUX.1-dev", []),
    ("flux-kontext", "flux", "black-forest-labs/FLUX.1-Kontext-dev", []),
    ("sd3-pix2pix", "sd3-pix2pix", "BleachNick/SD3_UltraEdit_freeform",
     ["--image-seeds", "{horse}"]),
    ("flux-fill", "flux-fill", "black-forest-labs/FLUX.1-Fill-dev",
     ["--image-seeds", "{horse};mask={mask}"]),
    ("s-cascade", "prior", "stabilityai/stable-cascade-prior",
     ["--s-cascade-decoder", "stabilityai/stable-cascade"]),
])
def test_a_repository_id_from_the_hub_cache_is_its_folder(
        folders: dict[str, Path], tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch,
        model_type: str, folder: str, repository: str, extra: list[str]) -> None:
    from huggingface_hub import constants

    from .source_fixtures import hub_cache_entry

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, repository, {"main": folders[folder]})
    if model_type == "s-cascade":
        hub_cache_entry(cache, "stabilityai/stable-cascade", {"main": folders["decoder"]})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    arguments = [value.format(horse=media / "horse1.jpg", mask=media / "horse1-mask.jpg")
                 for value in extra]
    common = ["--model-type", model_type, "--seeds", "3", "--output-size", "64", *arguments]
    ok(repository, tmp_path / "hub", *common, "--offline-mode")
    local = [str(folders["decoder"]) if value == "stabilityai/stable-cascade" else value
             for value in common]
    ok(folders[folder], tmp_path / "folder", *local)
    assert np.array_equal(_pixels(tmp_path / "hub"), _pixels(tmp_path / "folder"))
