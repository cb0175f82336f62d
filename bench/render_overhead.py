"""The cost of dgenerate around a diffusers call (run by hand).

    .venv/bin/python bench/render_overhead.py [--runs 7] [--steps 10]

Renders the same job - one prompt, one seed, a fixed number of steps, saved as
PNG - with a plain diffusers script and with dgenerate (through its kernel, in
the same process, after the model is loaded once by each), and prints the
median wall time per job and the ratio. Target: dgenerate / diffusers <= 1.05.

The workload is the embedded model (``embedded:shapes``) at its native 64 px;
``--model random`` uses a larger random-weight model at 256 px instead, where
the denoising itself dominates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _models import model_folder

from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.plugins.manager import PluginManager
from dgenerate.kernel.render.loop import render
from dgenerate.kernel.render.plan import build_plan

TARGET = 1.05


PROMPT = "a large red circle in the center, blue background"


def diffusers_job(pipeline, out: Path, steps: int, size: int) -> None:
    import torch

    generator = torch.Generator("cpu").manual_seed(1)
    with torch.inference_mode():
        image = pipeline(prompt=PROMPT, num_inference_steps=steps, guidance_scale=5.0,
                         generator=[generator], width=size, height=size).images[0]
    image.save(out / "plain.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model", choices=("embedded", "random"), default="embedded")
    options = parser.parse_args()

    import torch
    from diffusers import StableDiffusionPipeline

    torch.set_num_threads(2)
    if options.model == "embedded":
        from dgenerate.plugins_builtin.embedded_model import DEFAULT, embedded_model_folder

        name, model, size = DEFAULT, embedded_model_folder(DEFAULT), 64
    else:
        model = model_folder("medium", unet_channels=(64, 128), vae_channels=32)
        name, size = str(model), 256
    pipeline = StableDiffusionPipeline.from_pretrained(model, safety_checker=None,
                                                       requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    manager = PluginManager()
    manager.autoload()
    context = KernelContext(manager)
    out = Path(tempfile.mkdtemp(prefix="dgenerate-bench-"))
    arguments = [name, "--prompts", PROMPT, "--seeds", "1", "--inference-steps",
                 str(options.steps), "--output-size", str(size), "--output-path", str(out),
                 "--output-overwrite"]
    plan = build_plan(build_parser(manager).parse_args(arguments))
    render(context, plan)  # loads the model into dgenerate's cache
    diffusers_job(pipeline, out, options.steps, size)  # warm-up

    plain, ours = [], []
    for _ in range(options.runs):  # interleaved, so machine noise hits both alike
        start = time.perf_counter()
        diffusers_job(pipeline, out, options.steps, size)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        render(context, plan)
        ours.append(time.perf_counter() - start)
    ratio = statistics.median(ours) / statistics.median(plain)
    print(f"diffusers script : median {statistics.median(plain):.3f} s per job")
    print(f"dgenerate        : median {statistics.median(ours):.3f} s per job")
    print(f"ratio            : {ratio:.3f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
