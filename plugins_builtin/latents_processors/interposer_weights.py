"""Finding and loading the pretrained SD-Latent-Interposer converters (heavy: torch).

The converters are published on the Hugging Face hub in the repository
``city96/SD-Latent-Interposer``, folder ``v4.0``, one safetensors file per
conversion named ``<source>-to-<target>_interposer-v4.0.safetensors``. They are
downloaded into the Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``) like every
other model, so a cache filled elsewhere, or with ``huggingface-cli download``,
works offline.
"""

from __future__ import annotations

import os

import torch

from dgenerate.plugin_api import DgenerateError

from .interposer_network import InterposerNetwork, shape_of

__all__ = ["REPOSITORY", "REVISION", "VERSION", "hub_path", "load_converter", "locate_weights"]

REPOSITORY = "city96/SD-Latent-Interposer"
REVISION = "main"
VERSION = "v4.0"


def hub_path(source: str, target: str) -> str:
    """The path of a converter inside the repository."""
    return f"{VERSION}/{source}-to-{target}_interposer-{VERSION}.safetensors"


def locate_weights(source: str, target: str, *, offline: bool) -> str:
    """The local path of the converter's weights, downloaded if needed (never offline)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    path = hub_path(source, target)
    folder, filename = path.split("/")
    try:
        return hf_hub_download(REPOSITORY, filename, subfolder=folder, revision=REVISION,
                               local_files_only=offline)
    except LocalEntryNotFoundError:
        raise DgenerateError(
            f"interposer: the converter {path!r} of the Hugging Face repository "
            f"{REPOSITORY!r} (source={source}, target={target}) is not in the local Hugging "
            "Face cache" + (" and offline mode forbids downloading it" if offline else
                            " and could not be downloaded")) from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise DgenerateError(
            f"interposer: cannot download the converter {path!r} from the Hugging Face "
            f"repository {REPOSITORY!r}: {reason}") from None


def load_converter(path: str, *, channels_in: int, channels_out: int,
                   scale: float) -> InterposerNetwork:
    """The converter network with the weights of ``path`` (CPU, float32, eval mode);
    its channel counts must be those of the source and target latent spaces."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    shown = os.path.basename(path)
    try:
        state = load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise DgenerateError(
            f"interposer: the converter file {path!r} cannot be read: "
            f"{' '.join(str(error).split())}") from None
    try:
        shape = shape_of(state)
    except (KeyError, IndexError, AttributeError):
        raise DgenerateError(
            f"interposer: {shown!r} ({path}) does not hold the weights of an "
            f"SD-Latent-Interposer {VERSION} converter") from None
    if (shape["ch_in"], shape["ch_out"]) != (channels_in, channels_out):
        raise DgenerateError(
            f"interposer: {shown!r} ({path}) converts {shape['ch_in']} channels to "
            f"{shape['ch_out']}, but this conversion needs {channels_in} to {channels_out}")
    network = InterposerNetwork(scale=scale, **shape)
    try:
        network.load_state_dict({key: value.float() for key, value in state.items()})
    except RuntimeError as error:
        reason = " ".join(str(error).split()[:40])
        raise DgenerateError(
            f"interposer: the weights of {shown!r} ({path}) do not fit the SD-Latent-Interposer "
            f"{VERSION} network: {reason}") from None
    return network.eval().requires_grad_(False).to(torch.float32)
