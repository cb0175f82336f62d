"""Builders for the model-source tests: Hugging Face cache layouts, single-file
checkpoints in the original LDM layout, and a local HTTP server.

Everything is built locally from random weights; nothing is downloaded.

* :func:`hub_cache_entry` lays a folder out as the Hugging Face hub cache does
  (``models--owner--name/{blobs,refs,snapshots}``), so that repository ids,
  ``--revision`` and blob links resolve offline.
* :func:`build_single_file_sd` builds a tiny Stable Diffusion 1.x whose channel
  counts suit the original LDM config (GroupNorm with 32 groups), converts it to
  the LDM key layout with :func:`ldm_state_dict`, and writes a ``.safetensors``
  file, a pickle ``.ckpt``, a v1-inference style ``.yaml`` and the config-only
  files that ``from_single_file`` looks up in the hub cache.
* :class:`FileServer` serves files on 127.0.0.1 from a thread and counts requests;
  a route can also misbehave (announce a wrong ``Content-Length``, trickle its body
  slowly, end with a connection reset) to test how downloads fail.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import shutil
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .tiny_models import clip_tokenizer

# ----------------------------------------------------------------- hub cache


def _files(folder: Path) -> dict[str, Path]:
    return {path.relative_to(folder).as_posix(): path
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_cache_entry(cache: Path, repo_id: str, revisions: Mapping[str, Path | Mapping[str, Path]],
                    ) -> dict[str, str]:
    """Put a model repository into the hub cache folder ``cache`` (what ``HF_HUB_CACHE``
    names; ``$HF_HOME/hub`` by default).

    ``revisions`` maps each branch name to its content: a folder (copied whole) or a
    mapping of repository paths to files. Each branch gets its own commit, recorded in
    ``refs/<branch>``; files are stored once in ``blobs`` (named by their sha256, as
    LFS files are) and linked from ``snapshots/<commit>/`` like the hub client does.
    Returns the commit hash of each branch.
    """
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    commits: dict[str, str] = {}
    for branch, content in revisions.items():
        files = _files(content) if isinstance(content, Path) else dict(content)
        hashes = {name: _sha256(path) for name, path in files.items()}
        commit = hashlib.sha1(f"{repo_id}@{branch}:{sorted(hashes.items())}".encode()
                              ).hexdigest()
        for name, source in files.items():
            blob = storage / "blobs" / hashes[name]
            if not blob.exists():
                blob.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, blob)
                os.chmod(blob, 0o644)
            link = storage / "snapshots" / commit / name
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(os.path.relpath(blob, link.parent))
            except OSError:  # no symlinks here: the hub client then copies too
                shutil.copyfile(blob, link)
        ref = storage / "refs" / branch
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)  # no newline, like the hub client
        commits[branch] = commit
    return commits


# ------------------------------------------------------------- LDM checkpoints

_RESNET_TO_LDM = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"),
                  ("time_emb_proj", "emb_layers.1"), ("norm2", "out_layers.0"),
                  ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"))
_VAE_ATTENTION_TO_LDM = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v",
                         "to_out.0": "proj_out"}


def _rename(rest: str, table: tuple[tuple[str, str], ...]) -> str:
    for old, new in table:
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    raise KeyError(rest)


def unet_to_ldm(state: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers ``UNet2DConditionModel`` state dict in the LDM ``UNetModel`` layout
    (without the ``model.diffusion_model.`` prefix), for any number of levels."""
    per_level = config["layers_per_block"]
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    has_attention = {int(key.split(".")[1]) for key in state
                     if key.startswith("up_blocks.") and ".attentions." in key}
    out: dict[str, Any] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        parts = key.split(".")
        if module in fixed:
            out[f"{fixed[module]}.{leaf}"] = value
        elif parts[0] == "down_blocks":
            level, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            block = 1 + level * (per_level + 1)
            if kind == "resnets":
                out[f"input_blocks.{block + index}.0.{_rename(rest, _RESNET_TO_LDM)}"] = value
            elif kind == "attentions":
                out[f"input_blocks.{block + index}.1.{rest}"] = value
            else:  # downsamplers.0.conv
                out[f"input_blocks.{block + per_level}.0.op.{leaf}"] = value
        elif parts[0] == "mid_block":
            kind, index, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                out[f"middle_block.{2 * index}.{_rename(rest, _RESNET_TO_LDM)}"] = value
            else:
                out[f"middle_block.1.{rest}"] = value
        elif parts[0] == "up_blocks":
            level, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            block = level * (per_level + 1)
            if kind == "resnets":
                out[f"output_blocks.{block + index}.0.{_rename(rest, _RESNET_TO_LDM)}"] = value
            elif kind == "attentions":
                out[f"output_blocks.{block + index}.1.{rest}"] = value
            else:  # upsamplers.0.conv: after the attention when the level has one
                slot = 2 if level in has_attention else 1
                out[f"output_blocks.{block + per_level}.{slot}.conv.{leaf}"] = value
        else:
            raise KeyError(f"no LDM name for the UNet key {key!r}")
    return out


def vae_to_ldm(state: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers ``AutoencoderKL`` state dict in the LDM layout (no ``first_stage_model.``)."""
    levels = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]  # encoder, decoder, quant_conv, post_quant_conv
        if side in ("quant_conv", "post_quant_conv"):
            out[key] = value
            continue
        module, rest = parts[1], ".".join(parts[2:])
        if module in ("conv_in", "conv_out"):
            out[key] = value
        elif module == "conv_norm_out":
            out[f"{side}.norm_out.{rest}"] = value
        elif module in ("down_blocks", "up_blocks"):
            level, kind, rest = int(parts[2]), parts[3], parts[4:]
            name, ldm_level = ("down", level) if module == "down_blocks" else (
                "up", levels - 1 - level)
            if kind == "resnets":
                leaf = ".".join(rest[1:]).replace("conv_shortcut", "nin_shortcut")
                out[f"{side}.{name}.{ldm_level}.block.{rest[0]}.{leaf}"] = value
            else:  # downsamplers / upsamplers .0.conv.<leaf>
                sampler = "downsample" if name == "down" else "upsample"
                out[f"{side}.{name}.{ldm_level}.{sampler}.conv.{rest[-1]}"] = value
        elif module == "mid_block":
            kind, index, rest = parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "resnets":
                leaf = rest.replace("conv_shortcut", "nin_shortcut")
                out[f"{side}.mid.block_{index + 1}.{leaf}"] = value
            else:  # the attention's linear layers are 1x1 convolutions in LDM
                sub, leaf = rest.rsplit(".", 1)
                if leaf == "weight" and value.dim() == 2:
                    value = value[:, :, None, None]
                out[f"{side}.mid.attn_1.{_VAE_ATTENTION_TO_LDM[sub]}.{leaf}"] = value
        else:
            raise KeyError(f"no LDM name for the VAE key {key!r}")
    return out


def clip_to_ldm(state: Mapping[str, Any]) -> dict[str, Any]:
    """A ``CLIPTextModel`` state dict under ``cond_stage_model.transformer.text_model.``.

    transformers 5 saves ``CLIPTextModel`` without the ``text_model.`` level; LDM
    files (and diffusers' detection of CLIP in them) have it.
    """
    return {"cond_stage_model.transformer.text_model." + key.removeprefix("text_model."): value
            for key, value in state.items()}


def ldm_state_dict(pipeline: Any) -> dict[str, Any]:
    """The whole pipeline as one original-layout (LDM) state dict."""
    state: dict[str, Any] = {}
    unet = unet_to_ldm(pipeline.unet.state_dict(), pipeline.unet.config)
    state.update({"model.diffusion_model." + key: value for key, value in unet.items()})
    vae = vae_to_ldm(pipeline.vae.state_dict(), pipeline.vae.config)
    state.update({"first_stage_model." + key: value for key, value in vae.items()})
    state.update(clip_to_ldm(pipeline.text_encoder.state_dict()))
    return {key: value.contiguous() for key, value in state.items()}


_YAML = """\
# A v1-inference style original config for the tiny test checkpoint.
model:
  base_learning_rate: 1.0e-04
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 8
    channels: 4
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 8
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [ 1 ]
        num_res_blocks: 1
        channel_mult: [ 1, 2 ]
        num_heads: 4
        use_spatial_transformer: True
        transformer_depth: 1
        context_dim: 32
        use_checkpoint: True
        legacy: False
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 64
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult: [ 1, 1, 1, 1 ]
          num_res_blocks: 1
          attn_resolutions: [ ]
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
"""


@dataclasses.dataclass(frozen=True)
class SingleFileModel:
    folder: Path  # the same model as a diffusers folder
    safetensors: Path
    ckpt: Path  # torch.save's zip format, {"state_dict": ...}
    pt: Path  # torch.save's older non-zip pickle format, the bare state dict
    yaml: Path
    configs: Path  # the diffusers folder without weights: what from_single_file looks up
    clip: Path  # tokenizer + text config in the layout of openai/clip-vit-large-patch14


def _readable(folder: Path) -> None:
    # safetensors writes 0600 files; keep fixtures readable like any other file
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def build_single_file_sd(folder: Path) -> SingleFileModel:
    """A tiny SD 1.x whose channels are multiples of 32 (LDM hard-codes 32 norm groups),
    saved as a diffusers folder and as single files in the LDM layout."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(1)
    tokenizer = clip_tokenizer()
    text_config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, projection_dim=32, max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=4, norm_num_groups=32)
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32, 32), layers_per_block=1, norm_num_groups=32,
        latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=CLIPTextModel(text_config), tokenizer=tokenizer, unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)

    diffusers_folder = folder / "diffusers"
    pipeline.save_pretrained(diffusers_folder)
    state = ldm_state_dict(pipeline)
    model = SingleFileModel(
        folder=diffusers_folder, safetensors=folder / "tiny-sd1.safetensors",
        ckpt=folder / "tiny-sd1.ckpt", pt=folder / "tiny-sd1.pt", yaml=folder / "tiny-sd1.yaml",
        configs=folder / "configs", clip=folder / "clip")
    save_file(state, model.safetensors)
    torch.save({"state_dict": state, "global_step": 1}, model.ckpt)
    torch.save(state, model.pt, _use_new_zipfile_serialization=False)
    model.yaml.write_text(_YAML)
    # what the hub repo of the inferred model type provides to from_single_file: the
    # configs and the tokenizer, no weights
    shutil.copytree(diffusers_folder, model.configs,
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    model.clip.mkdir()
    tokenizer.save_pretrained(model.clip)
    tokenizer.backend_tokenizer.model.save(str(model.clip))  # vocab.json, merges.txt as well
    text_config.save_pretrained(model.clip)
    _readable(folder)
    return model


# ------------------------------------------------------------------ HTTP server


@dataclasses.dataclass
class Route:
    body: bytes
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    length: int | None = None  # the Content-Length sent: len(body) if None, none if negative
    chunk: int = 0  # send the body in pieces of this many bytes (0: all at once) ...
    delay: float = 0.0  # ... sleeping this long before each piece
    reset: bool = False  # end with a TCP reset instead of a clean close


class FileServer:
    """A threaded HTTP server on 127.0.0.1 serving :class:`Route` objects by path.

    ``hits`` counts the GET requests of each path (unknown paths answer 404).
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path, Route(b"not found", 404))
                self.send_response(route.status)
                length = len(route.body) if route.length is None else route.length
                if length >= 0:
                    self.send_header("Content-Length", str(length))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.send_body(route)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up
                    return
                if route.reset:  # close now, discarding the queue: the client sees ECONNRESET
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()

            def send_body(self, route: Route) -> None:
                size = route.chunk or max(len(route.body), 1)
                for start in range(0, len(route.body), size):
                    time.sleep(route.delay)
                    self.wfile.write(route.body[start:start + size])
                    self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # a short poll interval: stop() waits for the loop to notice, once per test
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: bytes | Path, status: int = 200,
            headers: Mapping[str, str] | None = None, *, length: int | None = None,
            chunk: int = 0, delay: float = 0.0, reset: bool = False) -> str:
        """Serve ``body`` (bytes or a file's content) at ``path``; returns its URL.

        The keywords make the route misbehave (see :class:`Route`): e.g. ``length=1000``
        with a shorter body is a connection closed early, ``chunk=1, delay=0.1`` a trickle.
        """
        data = body.read_bytes() if isinstance(body, Path) else body
        self.routes[path] = Route(data, status, dict(headers or {}), length, chunk, delay,
                                  reset)
        return self.base + path

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve() -> Iterator[FileServer]:
    """A started :class:`FileServer`, stopped afterwards (for fixtures)."""
    server = FileServer().start()
    try:
        yield server
    finally:
        server.stop()
