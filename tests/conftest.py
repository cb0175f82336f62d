"""Shared test fixtures: installed plugin packages, the media folder of the repository."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from .support import EXAMPLES, FIXTURES, MEDIA, pip_install_target

pytest_plugins = ["dgenerate.plugin_api.testing"]

# No test may reach the internet: the Hugging Face libraries stay offline (subprocesses
# inherit this), and in this process any connection other than to 127.0.0.1 fails.
os.environ["HF_HUB_OFFLINE"] = "1"
# tiny models run faster on one thread, and do not fight other work for the cores
os.environ.setdefault("OMP_NUM_THREADS", "1")
# ~/.dgenerate/init.dgen and other per-user files go to a throwaway home
os.environ["HOME"] = tempfile.mkdtemp(prefix="dgenerate-test-home-")
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("HF_TOKEN", None)


@pytest.fixture(autouse=True, scope="session")
def no_network() -> None:
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in (
                "127.0.0.1", "::1", "localhost"):
            raise OSError(f"tests may not connect to {address!r}")
        return real_connect(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the pip-installable example plus a deliberately broken plugin."""
    target = tmp_path_factory.mktemp("site")
    pip_install_target(EXAMPLES / "pip_package", target)
    pip_install_target(FIXTURES / "broken_package", target)
    return target


@pytest.fixture
def media() -> Path:
    return MEDIA


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Stable Diffusion 1.x folder (64 px native size)."""
    from .tiny_models import build_sd

    return build_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Stable Diffusion XL folder (64 px native size)."""
    from .tiny_models import build_sdxl

    return build_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_sdxl_refiner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SDXL refiner folder (64 px native size) sharing tiny_sdxl's latent space."""
    from .tiny_models import build_sdxl_refiner

    return build_sdxl_refiner(tmp_path_factory.mktemp("models") / "tiny-sdxl-refiner")


@pytest.fixture(scope="session")
def tiny_kolors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Kolors folder (64 px native size; needs sentencepiece)."""
    pytest.importorskip("sentencepiece")
    from .tiny_models import build_kolors

    return build_kolors(tmp_path_factory.mktemp("models") / "tiny-kolors")


@pytest.fixture(scope="session")
def tiny_pix2pix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Stable Diffusion 1.x InstructPix2Pix folder (64 px native size)."""
    from .tiny_models import build_pix2pix

    return build_pix2pix(tmp_path_factory.mktemp("models") / "tiny-pix2pix")


@pytest.fixture(scope="session")
def tiny_sdxl_pix2pix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SDXL InstructPix2Pix folder (64 px native size)."""
    from .tiny_models import build_sdxl_pix2pix

    return build_sdxl_pix2pix(tmp_path_factory.mktemp("models") / "tiny-sdxl-pix2pix")


@pytest.fixture(scope="session")
def tiny_upscaler_x4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Stable Diffusion x4 upscaler folder (16 px in, 64 px out)."""
    from .tiny_models import build_upscaler_x4

    return build_upscaler_x4(tmp_path_factory.mktemp("models") / "tiny-upscaler-x4")


@pytest.fixture(scope="session")
def tiny_upscaler_x2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Stable Diffusion x2 latent upscaler folder (inputs of at least 64 px)."""
    from .tiny_models import build_upscaler_x2

    return build_upscaler_x2(tmp_path_factory.mktemp("models") / "tiny-upscaler-x2")


@pytest.fixture
def restore_process_state():
    """Scripts may change the environment and the working directory: undo that."""
    environment, directory = dict(os.environ), os.getcwd()
    yield
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(directory)


# --- LoRA files for the tiny models (tests/test_lora.py) ------------------------------------

@pytest.fixture(scope="session")
def tiny_sd_loras(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """LoRAs for tiny_sd, by name: ``peft`` (diffusers/PEFT layout, UNet and text encoder),
    ``unet_only`` (the same UNet weights, no text encoder), ``other`` (another one),
    ``kohya`` (kohya layout, .safetensors), ``kohya_pt`` (the same tensors as a .pt pickle)
    and ``folder``: ``styles/tiny_style.safetensors`` (a copy of ``peft``) beside two files
    at its top, so only weight-name and subfolder tell which file to load."""
    import shutil

    from .tiny_submodels import build_lora, build_lora_kohya

    root = tmp_path_factory.mktemp("loras-sd")
    found = {
        "peft": build_lora(tiny_sd, root / "peft", seed=0),
        "unet_only": build_lora(tiny_sd, root / "unet-only", seed=0, text_encoders=False),
        "other": build_lora(tiny_sd, root / "other", seed=7, std=0.2),
        "kohya": build_lora_kohya(tiny_sd, root / "kohya" / "tiny_kohya.safetensors"),
        "kohya_pt": build_lora_kohya(tiny_sd, root / "kohya" / "tiny_kohya.pt"),
    }
    folder = root / "folder"
    (folder / "styles").mkdir(parents=True)
    shutil.copyfile(found["peft"], folder / "styles" / "tiny_style.safetensors")
    shutil.copyfile(found["other"], folder / "a.safetensors")
    shutil.copyfile(found["kohya"], folder / "b.safetensors")
    found["folder"] = folder
    return found


@pytest.fixture(scope="session")
def tiny_sdxl_lora(tiny_sdxl: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A diffusers/PEFT layout LoRA file for tiny_sdxl (UNet and both text encoders)."""
    from .tiny_submodels import build_lora

    return build_lora(tiny_sdxl, tmp_path_factory.mktemp("loras-sdxl"), seed=3)


@pytest.fixture(scope="session")
def tiny_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random AutoencoderKL folder in the latent space of tiny_sd and tiny_sdxl (4 latent
    channels, 8 px per latent), other weights than theirs."""
    from .tiny_submodels import build_vae_folder

    return build_vae_folder(tmp_path_factory.mktemp("vaes") / "tiny-vae")


# --- UNets for the tiny models (tests/test_unet.py) ------------------------------------------

@pytest.fixture(scope="session")
def tiny_unet(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UNet folder shaped like tiny_sd's UNet (it fits tiny_sd), with other random weights."""
    from .tiny_submodels import build_unet_folder

    return build_unet_folder(tiny_sd, tmp_path_factory.mktemp("unets") / "tiny-unet")
