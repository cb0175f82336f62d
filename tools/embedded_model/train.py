"""Train the embedded test model: a tiny, prompt-faithful Stable Diffusion 1.x pipeline.

Run from the repository root (about 50 minutes on 2 CPU cores)::

    nice -n 19 .venv/bin/python tools/embedded_model/train.py --out /tmp/embedded-model/model

Stage 1 trains a tiny AutoencoderKL (4 levels, so vae_scale_factor 8) on the procedural
images of ``data.py``; its scaling_factor is then set from the data so latents have unit
variance. Stage 2 trains a tiny CLIPTextModel (with a CLIPTokenizer built in memory from the
caption vocabulary) jointly with a tiny UNet2DConditionModel, with 10% empty captions for
classifier-free guidance. The result is saved with ``StableDiffusionPipeline.save_pretrained``
(safetensors) and loads as an ordinary SD 1.x folder. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

if __package__:  # imported as tools.embedded_model.<module>
    from . import data
else:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import data

DEFAULT_OUT = "/tmp/embedded-model/model"
MAX_LENGTH = 77
#: the noise schedule of Stable Diffusion 1.x, rescaled so the last step is pure noise: with
#: SD's own schedule a little of the picture survives at t=999, the model learns to read the
#: layout from the starting noise, and position words are ignored
BETAS = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
         "beta_schedule": "scaled_linear", "rescale_betas_zero_snr": True}
#: zero terminal SNR needs a target that is defined at pure noise (epsilon is not)
PREDICTION = "v_prediction"


class Clock:
    """Wall and CPU time since the start of the run, for progress lines."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.cpu_start = time.process_time()

    @staticmethod
    def _minutes(seconds: float) -> str:
        return f"{int(seconds // 60):3d}:{seconds % 60:04.1f}"

    def __call__(self, message: str) -> None:
        wall = self._minutes(time.monotonic() - self.start)
        cpu = self._minutes(time.process_time() - self.cpu_start)
        print(f"[wall {wall} cpu {cpu}] {message}", flush=True)


def seed_everything(seed: int) -> None:
    """Seed every random generator used here."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- tokenizer

def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of byte-level BPE (GPT-2 / CLIP layout)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def build_tokenizer(words: list[str]) -> CLIPTokenizer:
    """A CLIPTokenizer whose vocabulary spells each of ``words`` as one token.

    The vocabulary is the 256 byte characters, the same with ``</w>``, one merged token per
    prefix of each word, then ``<|startoftext|>`` and ``<|endoftext|>``.
    """
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in sorted(words, key=lambda w: (-len(w), w)):
        symbols = [*word[:-1], word[-1] + "</w>"]
        current = symbols[0]
        for symbol in symbols[1:]:
            pair = (current, symbol)
            current += symbol
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(current, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)
    for word in words:
        pieces = tokenizer.tokenize(word)
        if pieces != [word + "</w>"]:
            raise RuntimeError(f"tokenizer splits {word!r} into {pieces}")
    return tokenizer


def write_slow_tokenizer_files(tokenizer: CLIPTokenizer, folder: Path) -> None:
    """Also write vocab.json + merges.txt, for loaders that read the classic CLIP files."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False),
                                       encoding="utf-8")
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                       encoding="utf-8")


# ----------------------------------------------------------------------------- models

def make_vae() -> AutoencoderKL:
    """A tiny 4-level AutoencoderKL (vae_scale_factor 8, 4 latent channels)."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 64, 64), layers_per_block=1, norm_num_groups=8,
        sample_size=data.IMAGE_SIZE)


def make_text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    """A tiny CLIPTextModel sized to ``tokenizer``."""
    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=256,
        num_hidden_layers=3, num_attention_heads=4, projection_dim=64,
        max_position_embeddings=MAX_LENGTH, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return CLIPTextModel(config)


def make_unet() -> UNet2DConditionModel:
    """A tiny three-level UNet2DConditionModel for 8x8 latents (8 -> 4 -> 2).

    The 2x2 level matters: there every pixel touches the border, which is how the
    convolutions learn where "left" and "right" are (two levels barely learned position).
    ``attention_head_dim`` is, as in SD 1.x, really the number of heads.
    """
    return UNet2DConditionModel(
        sample_size=data.IMAGE_SIZE // 8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(64, 64, 128), layers_per_block=1, norm_num_groups=16,
        cross_attention_dim=64, attention_head_dim=2)


def make_scheduler() -> EulerDiscreteScheduler:
    """The inference scheduler saved with the model.

    ``clip_sample`` and ``skip_prk_steps`` are not Euler's, but schedulers made
    ``from_config`` of this one read them, as with Stable Diffusion's own configs: DDIM and
    DDPM otherwise clip the predicted latents to [-1, 1], which shifts the colours of
    unit-variance latents, and PNDM otherwise needs a dozen Runge-Kutta warm-up steps.
    """
    scheduler = EulerDiscreteScheduler(**BETAS, prediction_type=PREDICTION,
                                       timestep_spacing="trailing", steps_offset=1)
    scheduler.register_to_config(clip_sample=False, skip_prk_steps=True)
    return scheduler


class EMA:
    """Exponential moving average of a set of parameters, with the usual warm-up."""

    def __init__(self, parameters: list[torch.nn.Parameter], decay: float) -> None:
        self.parameters = parameters
        self.shadow = [p.detach().clone() for p in parameters]
        self.decay = decay
        self.steps = 0

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.parameters], 1 - decay)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the averaged and the live weights (call twice to undo)."""
        for shadow, parameter in zip(self.shadow, self.parameters, strict=True):
            live = parameter.detach().clone()
            parameter.copy_(shadow)
            shadow.copy_(live)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- stage 1

def train_vae(images: torch.Tensor, steps: int, batch: int, lr: float, log: Clock,
              kl_weight: float = 1e-5) -> AutoencoderKL:
    """Train the autoencoder on ``images`` (N x 3 x H x W in [-1, 1])."""
    vae = make_vae()
    with torch.no_grad():
        # start almost deterministic: posterior std exp(-5) instead of 1, else the sampling
        # noise drowns the tiny latent for most of the (short) training
        vae.quant_conv.bias[vae.config.latent_channels:] = -10.0
    vae.train()
    log(f"VAE: {sum(p.numel() for p in vae.parameters()) / 1e6:.3f} M parameters, "
        f"{steps} steps of batch {batch}")
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(1)
    running = 0.0
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(step, steps, warmup=50)
        index = torch.randint(0, len(images), (batch,), generator=generator)
        x = images[index]
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample(generator)).sample
        error = (reconstruction - x) ** 2 + 0.5 * (reconstruction - x).abs()
        # the shape covers few pixels: weigh it up (the corners are always background)
        weight = 1.0 + 4.0 * (x != x[:, :, :1, :1]).any(dim=1, keepdim=True).float()
        loss = (error * weight).mean() + kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        running += loss.item()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"VAE step {step + 1}/{steps} loss {running / ((step % 100) + 1):.5f}")
            running = 0.0
    vae.eval()
    return vae


@torch.no_grad()
def encode_all(vae: AutoencoderKL, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std of every image."""
    means, stds = [], []
    for chunk in images.split(256):
        dist = vae.encode(chunk).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


# ----------------------------------------------------------------------------- stage 2

class Captioner:
    """Turns scenes into token ids: mostly full captions, some shortened, 10% empty."""

    def __init__(self, tokenizer: CLIPTokenizer, seed: int, drop: float = 0.1,
                 partial: float = 0.2) -> None:
        self.tokenizer = tokenizer
        self.rng = random.Random(seed)
        self.drop = drop
        self.partial = partial
        self.cache: dict[str, torch.Tensor] = {}

    def ids(self, text: str) -> torch.Tensor:
        if text not in self.cache:
            self.cache[text] = self.tokenizer(
                text, padding="max_length", max_length=self.tokenizer.model_max_length,
                truncation=True, return_tensors="pt").input_ids[0]
        return self.cache[text]

    def __call__(self, scenes: list[data.Scene]) -> torch.Tensor:
        texts = []
        for scene in scenes:
            roll = self.rng.random()
            if roll < self.drop:
                texts.append("")
            elif roll < self.drop + self.partial:
                keep_size, keep_position = self.rng.choice(
                    [(False, True), (True, False), (False, False)])
                texts.append(data.caption(scene, with_size=keep_size,
                                          with_position=keep_position))
            else:
                texts.append(data.caption(scene))
        return torch.stack([self.ids(text) for text in texts])


def train_unet(latent_mean: torch.Tensor, latent_std: torch.Tensor, scenes: list[data.Scene],
               tokenizer: CLIPTokenizer, steps: int, batch: int, lr: float, log: Clock,
               snapshot: Callable[[int, CLIPTextModel, UNet2DConditionModel], None] | None = None,
               snapshot_every: int = 0) -> tuple[CLIPTextModel, UNet2DConditionModel]:
    """Jointly train the text encoder and the UNet on scaled latents (v-prediction).

    Returns the EMA weights; ``snapshot`` is called with them every ``snapshot_every`` steps.
    """
    text_encoder = make_text_encoder(tokenizer)
    unet = make_unet()
    text_encoder.train()
    unet.train()
    log(f"text encoder: {sum(p.numel() for p in text_encoder.parameters()) / 1e6:.3f} M, "
        f"UNet: {sum(p.numel() for p in unet.parameters()) / 1e6:.3f} M parameters; "
        f"{steps} steps of batch {batch}")
    parameters = list(text_encoder.parameters()) + list(unet.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-2)
    ema = EMA(parameters, decay=0.999)
    noise_scheduler = DDPMScheduler(**BETAS, prediction_type=PREDICTION)
    captioner = Captioner(tokenizer, seed=2)
    generator = torch.Generator().manual_seed(3)
    running = 0.0
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(step, steps, warmup=200)
        index = torch.randint(0, len(scenes), (batch,), generator=generator)
        noise_latent = torch.randn(latent_mean[index].shape, generator=generator)
        latents = latent_mean[index] + latent_std[index] * noise_latent
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(0, BETAS["num_train_timesteps"], (batch,), generator=generator)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        ids = captioner([scenes[i] for i in index.tolist()])
        hidden = text_encoder(ids)[0]
        prediction = unet(noisy, timesteps, hidden).sample
        loss = F.mse_loss(prediction, noise_scheduler.get_velocity(latents, noise, timesteps))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        ema.update()
        running += loss.item()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"UNet step {step + 1}/{steps} loss {running / ((step % 100) + 1):.5f}")
            running = 0.0
        if snapshot and snapshot_every and (step + 1) % snapshot_every == 0 and step + 1 < steps:
            ema.swap()
            snapshot(step + 1, text_encoder, unet)
            ema.swap()
    ema.swap()
    text_encoder.eval()
    unet.eval()
    return text_encoder, unet


# ----------------------------------------------------------------------------- main

def save(out: Path, vae: AutoencoderKL, text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer,
         unet: UNet2DConditionModel) -> int:
    """Save the pipeline folder (safetensors, files 0644); returns its size in bytes."""
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=make_scheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipeline.save_pretrained(out, safe_serialization=True)
    write_slow_tokenizer_files(tokenizer, out / "tokenizer")
    total = 0
    for path in sorted(out.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
        if path.is_file():
            total += path.stat().st_size
    return total


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", type=int, default=6,
                        help="jittered images per scene combination (1008 combinations)")
    parser.add_argument("--vae-steps", type=int, default=1000)
    parser.add_argument("--vae-batch", type=int, default=16)
    parser.add_argument("--vae-lr", type=float, default=2e-3)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--unet-batch", type=int, default=64)
    parser.add_argument("--unet-lr", type=float, default=1e-3)
    parser.add_argument("--vae-from", default=None,
                        help="reuse the vae/ of an earlier output folder instead of stage 1")
    parser.add_argument("--snapshot-every", type=int, default=0,
                        help="also save the EMA model every N UNet steps to OUT-stepN")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    log = Clock()
    out = Path(args.out)

    scenes = data.make_scenes(args.variants, seed=args.seed)
    images = torch.from_numpy(data.render_all(scenes)).permute(0, 3, 1, 2).float() / 127.5 - 1
    log(f"rendered {len(scenes)} images of {data.IMAGE_SIZE}x{data.IMAGE_SIZE}")

    if args.vae_from:
        vae = AutoencoderKL.from_pretrained(Path(args.vae_from) / "vae")
        log(f"VAE loaded from {args.vae_from}")
    else:
        vae = train_vae(images, args.vae_steps, args.vae_batch, args.vae_lr, log)
    vae.eval()
    mean, std = encode_all(vae, images)
    with torch.no_grad():
        with torch.random.fork_rng():
            torch.manual_seed(args.seed)
            sample = mean + std * torch.randn_like(mean)
        reconstruction = vae.decode(mean[:512]).sample
    scaling = float(1.0 / sample.std())
    vae.register_to_config(scaling_factor=scaling)
    log(f"latents: mean {sample.mean():.3f} std {sample.std():.3f} -> scaling_factor "
        f"{scaling:.4f}; reconstruction MSE {F.mse_loss(reconstruction, images[:512]):.5f}")

    tokenizer = build_tokenizer(data.vocabulary())
    seed_everything(args.seed + 1)

    def snapshot(step: int, text_encoder: CLIPTextModel, unet: UNet2DConditionModel) -> None:
        folder = out.with_name(f"{out.name}-step{step}")
        log(f"snapshot {folder} ({save(folder, vae, text_encoder, tokenizer, unet) / 1e6:.2f} MB)")

    text_encoder, unet = train_unet(mean * scaling, std * scaling, scenes, tokenizer,
                                    args.unet_steps, args.unet_batch, args.unet_lr, log,
                                    snapshot, args.snapshot_every)
    size = save(out, vae, text_encoder, tokenizer, unet)
    log(f"saved {out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
