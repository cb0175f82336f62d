"""The LLM4GEN cross-adapter module (CAM) and the loading of its weights (heavy: torch).

Architecture, as in the authors' SD 1.5 inference script (github.com/YUHANG-Ma/LLM4GEN)
and the state-dict names of their ``projector.pth``: one fusion block,
``CrossFusionModule.0``, which

1. maps the LLM features to the CLIP width (``llm_proj``);
2. lets the projected LLM tokens attend to the CLIP tokens: queries from the LLM side
   (``kv_norm`` then ``q_proj``), keys and values from the CLIP side (``q_norm`` then
   ``k_proj`` / ``v_proj``), 8 heads, ``out_proj``, added to the projected LLM tokens;
3. adds a pre-norm feed-forward (``norm``, ``FFN.0``, QuickGELU, ``FFN.2``, 4x wide);
4. returns the CLIP tokens followed by the fused LLM tokens (77 + 256 tokens for SD 1.5).

The norms are named after their use in the original code (``q_norm`` normalizes the
CLIP side although the queries come from the LLM side); the names are kept so that the
published weights load unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from dgenerate.plugin_api import DgenerateError

__all__ = ["HEADS", "CrossAdapter", "load_projector", "shape_of"]

#: attention heads of the published projector (not recorded in its weights)
HEADS = 8
_BLOCK = "CrossFusionModule.0."


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _FusionBlock(nn.Module):
    def __init__(self, llm_dim: int, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the CLIP width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.llm_proj = nn.Linear(llm_dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.q_norm = nn.LayerNorm(dim)
        self.kv_norm = nn.LayerNorm(dim)
        self.norm = nn.LayerNorm(dim)
        self.FFN = nn.Sequential(nn.Linear(dim, dim * 4), _QuickGELU(), nn.Linear(dim * 4, dim))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        return x.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, clip: torch.Tensor, llm: torch.Tensor) -> torch.Tensor:
        llm = self.llm_proj(llm)
        clip_normed = self.q_norm(clip)
        query = self._split(self.q_proj(self.kv_norm(llm)))
        key = self._split(self.k_proj(clip_normed))
        value = self._split(self.v_proj(clip_normed))
        scores = (query @ key.transpose(-2, -1)) * query.shape[-1] ** -0.5
        attended = (scores.softmax(dim=-1) @ value).transpose(1, 2).flatten(2)
        llm = llm + self.out_proj(attended)
        llm = llm + self.FFN(self.norm(llm))
        return torch.cat((clip, llm), dim=1)


class CrossAdapter(nn.Module):
    """The CAM: ``forward(clip_embeds, llm_embeds)`` -> CLIP tokens + fused LLM tokens."""

    def __init__(self, clip_dim: int, llm_dim: int, heads: int = HEADS) -> None:
        super().__init__()
        self.clip_dim, self.llm_dim = clip_dim, llm_dim
        self.CrossFusionModule = nn.ModuleList([_FusionBlock(llm_dim, clip_dim, heads)])

    def forward(self, clip: torch.Tensor, llm: torch.Tensor) -> torch.Tensor:
        for block in self.CrossFusionModule:
            clip = block(clip, llm)
        return clip


def shape_of(state: dict[str, Any]) -> tuple[int, int]:
    """(CLIP width, LLM width) of a projector's weights; KeyError when it is not one."""
    weight = state[_BLOCK + "llm_proj.weight"]
    return int(weight.shape[0]), int(weight.shape[1])


def _read(path: str) -> dict[str, Any]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):  # checkpoints saved with their trainer's wrapper
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    return state


def load_projector(path: str, dtype: torch.dtype) -> CrossAdapter:
    """The CAM with the weights of ``path`` (.pth/.pt/.bin or .safetensors), on the CPU."""
    shown = os.path.basename(path)
    try:
        state = _read(path)
    except Exception as error:  # unpickling raises many kinds
        raise DgenerateError(f"llm4gen: the projector file {path!r} cannot be read: "
                             f"{' '.join(str(error).split())}") from None
    try:
        # weights saved from a DataParallel-wrapped module carry a "module." prefix
        state = {key.removeprefix("module."): value for key, value in state.items()}
        clip_dim, llm_dim = shape_of(state)
        adapter = CrossAdapter(clip_dim, llm_dim)
        adapter.load_state_dict(state)
    except (KeyError, AttributeError, TypeError, IndexError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split()[:40])
        raise DgenerateError(
            f"llm4gen: {shown!r} ({path}) does not hold the weights of an LLM4GEN projector "
            f"(CrossFusionModule.0.*): {reason}") from None
    return adapter.eval().requires_grad_(False).to(dtype)
