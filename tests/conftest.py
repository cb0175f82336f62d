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
