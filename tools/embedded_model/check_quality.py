"""Measure how faithfully the embedded test model follows its prompts.

    .venv/bin/python tools/embedded_model/check_quality.py [--model DIR] [--grid PNG]

Renders a fixed set of prompts x seeds with ``StableDiffusionPipeline.from_pretrained`` and
reads each image back with simple image analysis: background = the palette colour most common
on the border; shape colour = the palette colour most common among the pixels that differ from
the background; shape = fill ratio of the shape's bounding box (square ~1.0, circle ~0.785,
triangle ~0.5); position = the shape's centroid; size = the bounding box's larger side.
Prints one line per render and the accuracies. Importable: ``analyse`` and ``evaluate``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from PIL import Image

if __package__:  # imported as tools.embedded_model.<module>
    from . import data
else:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import data

DEFAULT_MODEL = "/tmp/embedded-model/model"
#: the documented inference settings
STEPS = 20
GUIDANCE = 4.0
SEEDS = (0, 1)

_NAMES = list(data.COLOURS)
_PALETTE = np.array([data.COLOURS[name] for name in _NAMES], dtype=np.float64)
#: fill-ratio thresholds between triangle (~0.58 when pixelated), circle (~0.80) and square (~1.0)
_FILL_TRIANGLE_CIRCLE = 0.67
_FILL_CIRCLE_SQUARE = 0.90


def default_prompts() -> list[str]:
    """24 full captions: every colour as shape and as background, every shape, position, size."""
    prompts = []
    for i in range(24):
        scene = data.Scene(shape=data.SHAPES[i % 3], colour=_NAMES[i % 8],
                           background=_NAMES[(i + 1 + 2 * (i // 8)) % 8],
                           position=data.POSITIONS[(i // 3) % 3],
                           size=data.SIZES[(i // 2) % 2])
        prompts.append(data.caption(scene))
    return prompts


def parse_prompt(prompt: str) -> dict[str, str | None]:
    """The attributes a caption asks for (None where the caption does not say)."""
    head, _, tail = prompt.partition(",")
    words = head.split()
    colours = [w for w in words if w in data.COLOURS]
    return {
        "colour": colours[0] if colours else None,
        "background": next((w for w in tail.split() if w in data.COLOURS), None),
        "shape": next((w for w in words if w in data.SHAPES), None),
        "position": next((w for w in words if w in data.POSITIONS), None),
        "size": next((w for w in words if w in data.SIZES), None),
    }


def _nearest(pixels: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour of each RGB pixel."""
    distance = ((pixels[..., None, :] - _PALETTE) ** 2).sum(axis=-1)
    return distance.argmin(axis=-1)


def analyse(image: Image.Image | np.ndarray) -> dict[str, Any]:
    """Background colour, shape colour, shape, position and size found in one render."""
    rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image,
                     dtype=np.float64)[..., :3]
    height, width = rgb.shape[:2]
    labels = _nearest(rgb)
    border = np.concatenate([labels[:2].ravel(), labels[-2:].ravel(),
                             labels[:, :2].ravel(), labels[:, -2:].ravel()])
    background = int(np.bincount(border, minlength=len(_NAMES)).argmax())
    border_rgb = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3),
                                 rgb[:, :2].reshape(-1, 3), rgb[:, -2:].reshape(-1, 3)])
    bg_rgb = np.median(border_rgb, axis=0)
    distance = np.sqrt(((rgb - bg_rgb) ** 2).sum(axis=-1))
    result: dict[str, Any] = {"background": _NAMES[background], "colour": None, "shape": None,
                              "position": None, "size": None, "fill": 0.0}
    candidates = (distance > 40) & (labels != background)
    if candidates.sum() < 4:
        return result
    colour = int(np.bincount(labels[candidates], minlength=len(_NAMES)).argmax())
    # a pixel belongs to the shape when it is more than halfway from the background to it
    fg_rgb = np.median(rgb[candidates & (labels == colour)], axis=0)
    span = max(np.sqrt(((fg_rgb - bg_rgb) ** 2).sum()), 1.0)
    mask = distance > span / 2
    ys, xs = np.nonzero(mask)
    if len(xs) < 4:
        return result
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    box_w, box_h = x1 - x0 + 1, y1 - y0 + 1
    fill = float(len(xs) / (box_w * box_h))
    shape = ("triangle" if fill < _FILL_TRIANGLE_CIRCLE
             else "circle" if fill < _FILL_CIRCLE_SQUARE else "square")
    cx = float(xs.mean()) / width
    left_cut = (data.POSITION_X["left"] + data.POSITION_X["center"]) / 2 / data.IMAGE_SIZE
    right_cut = (data.POSITION_X["center"] + data.POSITION_X["right"]) / 2 / data.IMAGE_SIZE
    position = "left" if cx < left_cut else "right" if cx > right_cut else "center"
    extent = max(box_w, box_h) / width * data.IMAGE_SIZE
    size_cut = data.HALF_EXTENT["small"] + data.HALF_EXTENT["large"]  # average full side
    result.update(colour=_NAMES[colour], shape=shape, position=position,
                  size="large" if extent > size_cut else "small", fill=round(fill, 3),
                  centroid=(round(cx, 3), round(float(ys.mean()) / height, 3)),
                  extent=round(float(extent), 1), pixels=len(xs))
    return result


METRICS = ("colour", "background", "both colours", "shape", "position", "size")


def _score(expected: dict[str, str | None], found: dict[str, Any]) -> dict[str, bool | None]:
    scores: dict[str, bool | None] = {}
    for key in ("colour", "background", "shape", "position", "size"):
        scores[key] = None if expected[key] is None else expected[key] == found[key]
    scores["both colours"] = scores["colour"] and scores["background"]
    return scores


def evaluate(model_dir: str | Path, prompts: list[str] | None = None,
             seeds: tuple[int, ...] | list[int] = SEEDS, steps: int = STEPS,
             guidance: float = GUIDANCE, size: int | None = None,
             grid: str | Path | None = None) -> dict[str, Any]:
    """Render ``prompts`` x ``seeds`` and score them; returns rows, accuracies and images."""
    import torch
    from diffusers import StableDiffusionPipeline

    prompts = list(prompts or default_prompts())
    pipe = StableDiffusionPipeline.from_pretrained(str(model_dir), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    rows, images = [], []
    for seed in seeds:
        generators = [torch.Generator().manual_seed(seed) for _ in prompts]
        output = pipe(prompts, num_inference_steps=steps, guidance_scale=guidance,
                      generator=generators, height=size, width=size).images
        for prompt, image in zip(prompts, output, strict=True):
            expected = parse_prompt(prompt)
            found = analyse(image)
            rows.append({"prompt": prompt, "seed": seed, "expected": expected, "found": found,
                         "scores": _score(expected, found)})
            images.append(image)
    accuracy = {}
    for metric in METRICS:
        marks = [row["scores"][metric] for row in rows if row["scores"][metric] is not None]
        accuracy[metric] = sum(marks) / len(marks) if marks else float("nan")
    if grid:
        columns = len(prompts)
        w, h = images[0].size
        sheet = Image.new("RGB", (w * columns, h * len(seeds)))
        for i, image in enumerate(images):
            sheet.paste(image, ((i % columns) * w, (i // columns) * h))
        sheet.save(grid)
    return {"rows": rows, "accuracy": accuracy, "images": images, "steps": steps,
            "guidance": guidance, "seeds": list(seeds), "size": images[0].size}


def smoke_other_pipelines(model_dir: str | Path) -> list[str]:
    """Load the folder as img2img and (legacy 4-channel) inpaint pipelines and run each once."""
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline

    scene = data.Scene("circle", "red", "blue", "center", "large")
    init = Image.fromarray(data.render(scene))
    mask = Image.new("L", init.size, 0)
    mask.paste(255, (0, 0, init.size[0] // 2, init.size[1]))
    lines = []
    for cls, extra in ((StableDiffusionImg2ImgPipeline, {"image": init, "strength": 0.6}),
                       (StableDiffusionInpaintPipeline, {"image": init, "mask_image": mask})):
        pipe = cls.from_pretrained(str(model_dir), local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        image = pipe("a large green square in the center, blue background",
                     num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                     generator=torch.Generator().manual_seed(0), **extra).images[0]
        found = analyse(image)
        lines.append(f"{cls.__name__}: {image.size[0]}x{image.size[1]} -> {found['colour']} "
                     f"{found['shape']} on {found['background']}")
    return lines


def format_report(report: dict[str, Any]) -> str:
    """Per-render lines and the accuracy table, as printed by the command line."""
    lines = []
    for row in report["rows"]:
        found, marks = row["found"], row["scores"]
        flags = " ".join(f"{k}={'ok' if v else 'NO'}" for k, v in marks.items()
                         if v is not None and k != "both colours")
        lines.append(f"seed {row['seed']} | {row['prompt']:<52} | found {found['size']} "
                     f"{found['colour']} {found['shape']} (fill {found['fill']:.2f}) "
                     f"{found['position']}, {found['background']} bg | {flags}")
    width, height = report["size"]
    lines.append("")
    lines.append(f"{len(report['rows'])} renders, {width}x{height}, steps {report['steps']}, "
                 f"guidance {report['guidance']}, seeds {report['seeds']}")
    lines.append("| metric | accuracy |")
    lines.append("|---|---|")
    for metric, value in report["accuracy"].items():
        lines.append(f"| {metric} | {value:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model folder (%(default)s)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--guidance", type=float, default=GUIDANCE)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--size", type=int, default=None, help="output size (default 64)")
    parser.add_argument("--grid", default=None, help="also save a contact sheet PNG here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-pipelines", action="store_true",
                        help="skip the img2img / inpaint load check")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = evaluate(args.model, seeds=args.seeds, steps=args.steps, guidance=args.guidance,
                      size=args.size, grid=args.grid)
    print(format_report(report))
    if not args.skip_pipelines:
        print()
        print("\n".join(smoke_other_pipelines(args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
