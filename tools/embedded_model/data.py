"""Procedural training data for the embedded test model: one flat shape on a flat background.

Every scene is one circle, square or triangle in one of eight colours, on a background of a
different colour, on the left, in the center or on the right, small or large. Images are
rendered with 4x supersampling (anti-aliased edges) and captioned in plain English, e.g.
``"a small red circle on the left, blue background"``. Everything is deterministic given a seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 64
SUPERSAMPLE = 4

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
POSITIONS = ("left", "center", "right")
SIZES = ("small", "large")

#: horizontal centre of each position and half-extent of each size, in 64 px units
POSITION_X = {"left": 17.0, "center": 32.0, "right": 47.0}
HALF_EXTENT = {"small": 8.0, "large": 15.0}
POSITION_PHRASE = {"left": "on the left", "center": "in the center", "right": "on the right"}


@dataclass(frozen=True)
class Scene:
    """One image's content; ``dx``/``dy``/``ds`` are small jitters in 64 px units."""

    shape: str
    colour: str
    background: str
    position: str
    size: str
    dx: float = 0.0
    dy: float = 0.0
    ds: float = 0.0


def caption(scene: Scene, *, with_size: bool = True, with_position: bool = True) -> str:
    """The plain-English caption of ``scene``; size and position words may be left out."""
    words = ["a"]
    if with_size:
        words.append(scene.size)
    words += [scene.colour, scene.shape]
    if with_position:
        words.append(POSITION_PHRASE[scene.position])
    return " ".join(words) + f", {scene.background} background"


def vocabulary() -> list[str]:
    """Every word a caption can contain (punctuation excluded), in a fixed order."""
    words = ["a", "on", "the", "in", "background", *COLOURS, *SHAPES, *POSITIONS, *SIZES]
    return list(dict.fromkeys(words))


def _mask(scene: Scene, size: int) -> np.ndarray:
    """Coverage (0..1) of the shape on a ``size`` x ``size`` grid, supersampled."""
    hi = size * SUPERSAMPLE
    scale = size / IMAGE_SIZE
    cx = (POSITION_X[scene.position] + scene.dx) * scale
    cy = (IMAGE_SIZE / 2 + scene.dy) * scale
    s = (HALF_EXTENT[scene.size] + scene.ds) * scale
    coords = (np.arange(hi, dtype=np.float64) + 0.5) / SUPERSAMPLE
    y, x = np.meshgrid(coords, coords, indexing="ij")
    if scene.shape == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= s * s
    elif scene.shape == "square":
        inside = (np.abs(x - cx) <= s) & (np.abs(y - cy) <= s)
    elif scene.shape == "triangle":
        # apex at the top, base at the bottom: width grows linearly from 0 to 2s
        t = (y - (cy - s)) / (2 * s)
        inside = (t >= 0) & (t <= 1) & (np.abs(x - cx) <= s * t)
    else:
        raise ValueError(f"unknown shape {scene.shape!r}")
    return inside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def render(scene: Scene, size: int = IMAGE_SIZE) -> np.ndarray:
    """The scene as a ``size`` x ``size`` x 3 uint8 RGB array."""
    cover = _mask(scene, size)[..., None]
    fg = np.array(COLOURS[scene.colour], dtype=np.float64)
    bg = np.array(COLOURS[scene.background], dtype=np.float64)
    return np.round(cover * fg + (1 - cover) * bg).astype(np.uint8)


def all_combinations() -> list[Scene]:
    """Every shape x colour x background x position x size, without jitter (1008 scenes)."""
    return [Scene(shape, colour, background, position, size)
            for shape, colour, background, position, size in itertools.product(
                SHAPES, COLOURS, COLOURS, POSITIONS, SIZES)
            if colour != background]


def make_scenes(variants: int, seed: int = 0, jitter: float = 2.0) -> list[Scene]:
    """``variants`` jittered copies of every combination, in a seeded random order."""
    rng = np.random.default_rng(seed)
    scenes = []
    for base in all_combinations():
        for _ in range(variants):
            dx, dy = rng.uniform(-jitter, jitter, size=2)
            ds = rng.uniform(-jitter / 2, jitter / 2)
            scenes.append(Scene(base.shape, base.colour, base.background, base.position,
                                base.size, float(dx), float(dy), float(ds)))
    order = rng.permutation(len(scenes))
    return [scenes[i] for i in order]


def render_all(scenes: list[Scene], size: int = IMAGE_SIZE) -> np.ndarray:
    """All scenes as one N x size x size x 3 uint8 array."""
    return np.stack([render(scene, size) for scene in scenes])
