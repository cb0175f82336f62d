"""The cost of dgenerate around a diffusers call (run by hand).

    .venv/bin/python bench/render_overhead.py [--runs 7] [--steps 10]

Renders the same job - one prompt, one seed, a fixed number of steps, saved as
PNG - with a plain diffusers script and with dgenerate (through its kernel, in
the same process, after the model is loaded once by each), and prints the
median wall time per job and the ratio. Target: dgenerate / diffusers <= 1.05.

The workload is the embedded model (``embedded:shapes``) at its native 64 px;
``--model random`` uses a larger random-weight model at 256 px instead, where
the denoising itself dominates; ``--model sdxl`` a random-weight SDXL model
(``--model-type sdxl``) at 128 px; ``--model all`` runs the three in turn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _models import model_folder, sdxl_folder

from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.plugins.manager import PluginManager
from dgenerate.kernel.render.loop import render

TARGET = 1.05


PROMPT = "a large red circle in the center, blue background"


def diffusers_job(pipeline, out: Path, steps: int, size: int) -> None:
    import torch

    generator = torch.Generator("cpu").manual_seed(1)
    with torch.inference_mode():
        image = pipeline(prompt=PROMPT, num_inference_steps=steps, guidance_scale=5.0,
                         generator=[generator], width=size, height=size).images[0]
    image.save(out / "plain.png")


def _case(kind: str) -> tuple[str, str, str, Path | str, int]:
    """(diffusers pipeline class, model type, model name for dgenerate, folder, size)."""
    if kind == "embedded":
        from dgenerate.plugin_api.diffusion.embedded import DEFAULT, embedded_model_folder

        return "StableDiffusionPipeline", "sd", DEFAULT, embedded_model_folder(DEFAULT), 64
    if kind == "random":
        model = model_folder("medium", unet_channels=(64, 128), vae_channels=32)
        return "StableDiffusionPipeline", "sd", str(model), model, 256
    model = sdxl_folder("sdxl")
    return "StableDiffusionXLPipeline", "sdxl", str(model), model, 128


def measure(kind: str, runs: int, steps: int) -> float:
    """Print the medians of one workload; return the ratio dgenerate / diffusers."""
    import diffusers

    class_name, model_type, name, model, size = _case(kind)
    extra = {"safety_checker": None, "requires_safety_checker": False} if model_type == "sd" \
        else {}
    pipeline = getattr(diffusers, class_name).from_pretrained(model, **extra)
    pipeline.set_progress_bar_config(disable=True)
    manager = PluginManager()
    manager.autoload()
    context = KernelContext(manager)
    out = Path(tempfile.mkdtemp(prefix="dgenerate-bench-"))
    arguments = [name, "--model-type", model_type, "--prompts", PROMPT, "--seeds", "1",
                 "--inference-steps", str(steps), "--output-size", str(size),
                 "--output-path", str(out), "--output-overwrite"]
    plan = make_plan(context, parser := build_parser(manager), parser.parse_args(arguments))
    render(context, plan)  # loads the model into dgenerate's cache
    diffusers_job(pipeline, out, steps, size)  # warm-up

    plain, ours = [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        start = time.perf_counter()
        diffusers_job(pipeline, out, steps, size)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        render(context, plan)
        ours.append(time.perf_counter() - start)
    ratio = statistics.median(ours) / statistics.median(plain)
    print(f"[{kind}, --model-type {model_type}, {size} px]")
    print(f"diffusers script : median {statistics.median(plain):.3f} s per job")
    print(f"dgenerate        : median {statistics.median(ours):.3f} s per job")
    print(f"ratio            : {ratio:.3f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model", choices=("embedded", "random", "sdxl", "all"),
                        default="embedded")
    options = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    kinds = ("embedded", "random", "sdxl") if options.model == "all" else (options.model,)
    for kind in kinds:
        measure(kind, options.runs, options.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
