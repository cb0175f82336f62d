"""Tiny sub-model files (embeddings, LoRAs, VAEs ...) built locally for the sub-model tests.

Each engineer's builders sit in their own section; everything is random weights, made in
milliseconds, nothing downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

# --- textual inversion embeddings (tests/test_textual_inversion.py) --------------------------

def ti_vectors(count: int = 1, size: int = 32, seed: int = 0):
    """``count`` random embedding vectors of ``size`` values (32: the tiny CLIP encoders of
    tests/tiny_models.py), large enough to change a tiny model's output."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, size, generator=generator) * 0.5


def build_ti_a1111_pt(path: Path, name: str = "<tiny>", *, count: int = 1,
                      seed: int = 0) -> Path:
    """An A1111 (stable-diffusion-webui) ``.pt`` embedding storing its token as ``name``."""
    import torch

    vectors = ti_vectors(count, seed=seed)
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vectors},
                "name": name, "step": 1000, "sd_checkpoint": None,
                "sd_checkpoint_name": None}, path)
    os.chmod(path, 0o644)
    return path


def build_ti_a1111_safetensors(path: Path, *, count: int = 2, seed: int = 1) -> Path:
    """An A1111 ``.safetensors`` embedding ``{"emb_params": [count, 32]}`` (no token stored)."""
    from safetensors.torch import save_file

    save_file({"emb_params": ti_vectors(count, seed=seed).contiguous()}, str(path))
    os.chmod(path, 0o644)  # safetensors writes 0600 files
    return path


def build_ti_diffusers_bin(path: Path, token: str = "<tiny>", *, seed: int = 0) -> Path:
    """A diffusers ``learned_embeds.bin`` style embedding ``{token: [32]}``."""
    import torch

    torch.save({token: ti_vectors(1, seed=seed)[0]}, path)
    os.chmod(path, 0o644)
    return path


def build_ti_sdxl(path: Path, *, count: int = 1, seed: int = 2) -> Path:
    """A Stable Diffusion XL embedding ``{"clip_l": [count, 32], "clip_g": [count, 32]}`` for
    tiny_sdxl (both of its text encoders are 32 wide)."""
    from safetensors.torch import save_file

    save_file({"clip_l": ti_vectors(count, seed=seed).contiguous(),
               "clip_g": ti_vectors(count, seed=seed + 100).contiguous()}, str(path))
    os.chmod(path, 0o644)
    return path


# --- LoRA files (tests/test_lora.py) ---------------------------------------------------------

_LORA_UNET = r"attn[12]\.(to_q|to_k|to_v|to_out\.0)\.weight$"
_LORA_TEXT = r"self_attn\.(q_proj|k_proj|v_proj|out_proj)\.weight$"


def _lora_targets(model: Path, component: str, pattern: str) -> dict[str, tuple[int, int]]:
    """The Linear layers of ``component`` in the diffusers folder ``model`` that a LoRA adapts:
    module name -> (out, in) features, read from the weights file's header."""
    import re

    from safetensors import safe_open

    (weights,) = sorted((model / component).glob("*.safetensors"))
    with safe_open(str(weights), "pt") as file:
        return {key[:-len(".weight")]: tuple(file.get_slice(key).get_shape())
                for key in file.keys() if re.search(pattern, key)}  # noqa: SIM118


def _lora_pairs(targets: dict[str, tuple[int, int]], generator, rank: int, std: float):
    """Random (down, up) matrices for every target: down is (rank, in), up (out, rank)."""
    import torch

    for module, (out_features, in_features) in sorted(targets.items()):
        down = torch.randn(rank, in_features, generator=generator) * std
        up = torch.randn(out_features, rank, generator=generator) * std
        yield module, down, up


def _lora_components(model: Path) -> dict[str, str]:
    """The LoRA-adaptable components of ``model``: folder name -> regex of their layers."""
    found = {"unet": _LORA_UNET}
    for name in ("text_encoder", "text_encoder_2"):
        if (model / name).is_dir():
            found[name] = _LORA_TEXT
    return found


def build_lora(model: Path, folder: Path, *, seed: int = 0, rank: int = 4, std: float = 0.3,
               text_encoders: bool = True,
               weight_name: str = "pytorch_lora_weights.safetensors") -> Path:
    """A diffusers/PEFT-format LoRA for the tiny SD, SDXL or Kolors folder ``model``, saved with the
    pipeline class' ``save_lora_weights`` into ``folder`` as ``weight_name`` (random
    weights; ``seed`` picks them). Returns the file."""
    import json

    import diffusers
    import torch

    index = json.loads((model / "model_index.json").read_text())
    pipeline_class = getattr(diffusers, index["_class_name"])
    generator = torch.Generator().manual_seed(seed)
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for component, pattern in _lora_components(model).items():
        if component != "unet" and not text_encoders:
            continue
        targets = _lora_targets(model, component, pattern)
        if targets:  # (Kolors' ChatGLM text encoder has no CLIP attention layers)
            layers[component] = {
                f"{module}.{part}.weight": tensor
                for module, down, up in _lora_pairs(targets, generator, rank, std)
                for part, tensor in (("lora_A", down), ("lora_B", up))}
    folder.mkdir(parents=True, exist_ok=True)
    pipeline_class.save_lora_weights(
        folder, weight_name=weight_name,
        **{f"{component}_lora_layers": tensors for component, tensors in layers.items()})
    path = folder / weight_name
    os.chmod(path, 0o644)
    return path


def build_lora_kohya(model: Path, path: Path, *, seed: int = 1, rank: int = 4,
                     std: float = 0.3, alpha: float = 2.0, unet: bool = True) -> Path:
    """A kohya (sd-scripts) format LoRA for the tiny SD or SDXL folder ``model``:
    ``lora_unet_*`` (unless not ``unet``) and ``lora_te_*`` keys (SDXL: ``lora_te1_*`` and
    ``lora_te2_*``) with ``lora_down``/``lora_up``/``alpha``. Saved as safetensors, or with
    torch.save when ``path`` does not end in .safetensors."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    sdxl = (model / "text_encoder_2").is_dir()
    parts = [("text_encoder", "lora_te1_"), ("text_encoder_2", "lora_te2_")] if sdxl else [
        ("text_encoder", "lora_te_")]
    for component, prefix in [("unet", "lora_unet_")] * unet + parts:
        pattern = _lora_components(model)[component]
        for module, down, up in _lora_pairs(_lora_targets(model, component, pattern),
                                            generator, rank, std):
            if component != "unet" and not module.startswith("text_model."):
                module = "text_model." + module  # kohya names the 4.x CLIP layout
            name = prefix + module.replace(".", "_")
            tensors[f"{name}.lora_down.weight"] = down.contiguous()
            tensors[f"{name}.lora_up.weight"] = up.contiguous()
            tensors[f"{name}.alpha"] = torch.tensor(alpha)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(tensors, str(path))
    else:
        torch.save(tensors, path)
    os.chmod(path, 0o644)
    return path


# --- VAEs (tests/test_vae.py) ----------------------------------------------------------------

def vae_kl(*, seed: int = 5, scaling_factor: float = 0.18215, latent_channels: int = 4):
    """A random AutoencoderKL in the latent space of tiny_sd and tiny_sdxl: 4 latent channels,
    8 pixels per latent (4 levels), the channel and group counts of their own VAEs."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4,
        latent_channels=latent_channels, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64,
        scaling_factor=scaling_factor)


def _readable_tree(path: Path) -> Path:
    for root, _, files in os.walk(path) if path.is_dir() else [(path.parent, [], [path.name])]:
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)  # safetensors writes 0600 files
    return path


def build_vae_folder(folder: Path, **changes) -> Path:
    """:func:`vae_kl` saved with save_pretrained (config.json + weights)."""
    vae_kl(**changes).save_pretrained(folder)
    return _readable_tree(folder)


def build_vae_file(vae_folder: Path, path: Path, *, layout: str = "diffusers") -> Path:
    """The weights of the AutoencoderKL folder ``vae_folder`` as one file: ``layout`` is
    ``diffusers`` (its own key names) or ``ldm`` (the original layout, as VAE checkpoints
    on model sites are). ``.safetensors``, else a torch.save pickle."""
    import torch
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from .source_fixtures import vae_to_ldm

    vae = AutoencoderKL.from_pretrained(vae_folder)
    state = vae.state_dict()
    if layout == "ldm":
        state = vae_to_ldm(state, vae.config)
    state = {key: value.contiguous() for key, value in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return _readable_tree(path)


def build_vae_tiny(folder: Path, *, seed: int = 7, latent_channels: int = 4) -> Path:
    """A random AutoencoderTiny (TAESD shape) with tiny_sd's latent space: 4 channels,
    8 pixels per latent."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    AutoencoderTiny(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
                    num_encoder_blocks=(1,) * 4, num_decoder_blocks=(1,) * 4,
                    latent_channels=latent_channels).save_pretrained(folder)
    return _readable_tree(folder)


def build_vae_asymmetric(folder: Path, *, seed: int = 8) -> Path:
    """A random AsymmetricAutoencoderKL with tiny_sd's latent space."""
    import torch
    from diffusers import AsymmetricAutoencoderKL

    torch.manual_seed(seed)
    AsymmetricAutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4, down_block_out_channels=(8,) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, up_block_out_channels=(8,) * 4,
        layers_per_down_block=1, layers_per_up_block=1, norm_num_groups=4,
        latent_channels=4, sample_size=64).save_pretrained(folder)
    return _readable_tree(folder)


def build_vae_consistency(folder: Path, *, seed: int = 9) -> Path:
    """A random ConsistencyDecoderVAE with tiny_sd's latent space: its encoder has 4 levels
    (8 pixels per latent) and 4 latent channels (the class normalizes exactly 4); its
    decoder is a 2-level UNet2DModel at full resolution."""
    import torch
    from diffusers import ConsistencyDecoderVAE

    torch.manual_seed(seed)
    ConsistencyDecoderVAE(
        encoder_block_out_channels=(8,) * 4, encoder_layers_per_block=1,
        encoder_norm_num_groups=4, decoder_block_out_channels=(8, 16),
        decoder_down_block_types=("ResnetDownsampleBlock2D",) * 2,
        decoder_up_block_types=("ResnetUpsampleBlock2D",) * 2, decoder_layers_per_block=1,
        decoder_norm_num_groups=4, sample_size=64).save_pretrained(folder)
    return _readable_tree(folder)


def build_combined_sd_file(model: Path, vae_folder: Path, path: Path) -> Path:
    """The tiny SD folder ``model`` with the VAE of ``vae_folder`` saved as one checkpoint in
    the original (LDM) layout: UNet, text encoder and VAE (``first_stage_model.``) together."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline
    from safetensors.torch import save_file

    from .source_fixtures import ldm_state_dict

    pipeline = StableDiffusionPipeline.from_pretrained(
        model, vae=AutoencoderKL.from_pretrained(vae_folder), safety_checker=None,
        requires_safety_checker=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(ldm_state_dict(pipeline), str(path))
    return _readable_tree(path)


# --- UNets (tests/test_unet.py) --------------------------------------------------------------

def unet_like(model: Path, *, seed: int = 11):
    """A random UNet with the configuration of the UNet of the tiny model folder ``model``
    (tiny_sd, tiny_sdxl, tiny_sdxl_refiner ...): it fits that model, with other weights."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(model / "unet"))


def build_unet_folder(model: Path, folder: Path, *, seed: int = 11,
                      variant: str | None = None) -> Path:
    """:func:`unet_like` saved with save_pretrained (config.json + weights, of ``variant``)."""
    unet_like(model, seed=seed).save_pretrained(folder, variant=variant)
    return _readable_tree(folder)


def build_unet_file(unet_folder: Path, path: Path, *, layout: str = "diffusers",
                    prefix: str = "") -> Path:
    """The weights of the UNet folder ``unet_folder`` (a UNet folder, or a model's ``unet``
    subfolder) as one file: ``layout`` is ``diffusers`` (its own key names) or ``ldm`` (the
    original layout); ``prefix`` is put before every key (``unet.``,
    ``model.diffusion_model.``), as whole-model files have it. ``.safetensors``, else a
    torch.save pickle."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    from .source_fixtures import unet_to_ldm

    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    state = unet.state_dict()
    if layout == "ldm":
        # SDXL's added conditioning is LDM's label_emb (source_fixtures knows only SD 1.x)
        added = {key.replace("add_embedding.linear_1.", "label_emb.0.0.")
                 .replace("add_embedding.linear_2.", "label_emb.0.2."): value
                 for key, value in state.items() if key.startswith("add_embedding.")}
        state = {**unet_to_ldm({key: value for key, value in state.items()
                                if not key.startswith("add_embedding.")}, unet.config),
                 **added}
    state = {prefix + key: value.contiguous() for key, value in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return _readable_tree(path)


# --- text encoders (tests/test_text_encoders.py) ---------------------------------------------

def build_text_encoder_folder(model: Path, folder: Path, *, subfolder: str = "text_encoder",
                              seed: int | None = None) -> Path:
    """The text encoder in ``subfolder`` of the tiny model folder ``model`` saved by itself into
    ``folder`` with save_pretrained: its own weights when ``seed`` is None, else random
    weights of the same configuration (it fits the model and changes its pictures)."""
    import json

    import torch
    import transformers

    config = json.loads((model / subfolder / "config.json").read_text())
    cls = getattr(transformers, config["architectures"][0])
    if seed is None:
        encoder = cls.from_pretrained(model / subfolder)
    else:
        torch.manual_seed(seed)
        encoder = cls(cls.config_class.from_pretrained(model / subfolder))
    encoder.save_pretrained(folder)
    return _readable_tree(folder)
