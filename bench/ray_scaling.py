"""Wall time of one fixed grid with the local executor and with 1 and 2 Ray workers
(run by hand; needs ``pip install "dgenerate[ray]"``).

    .venv/bin/python bench/ray_scaling.py [--seeds 16] [--steps 20] [--size 64]
                                          [--workers 1 2] [--ray-args "num-gpus=1"]
                                          [--model embedded:shapes] [--threads 1]

Each run is a fresh ``dgenerate`` process rendering the same grid (one prompt, ``--seeds``
seeds), so Ray's start-up and each worker's model load are part of the time, as a user
sees them. Every run's images are compared with the local run's: the table says whether
they are equal bit for bit.

On a CPU machine, workers share its cores: ``--threads 1`` gives each worker one thread
(and the local run too, for a fair comparison), so two workers on two cores can run two
jobs at once.

For N GPUs on one machine or a cluster, run for example::

    bench/ray_scaling.py --model stabilityai/stable-diffusion-xl-base-1.0 \\
        --extra "--model-type sdxl --dtype float16" --size 1024 --steps 30 --seeds 64 \\
        --workers 1 2 4 8 --ray-args "num-gpus=1"

and fill the GPU table in bench/README.md: a grid long enough (several jobs per worker)
shows the scaling; model loading is paid once per worker.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DGENERATE = Path(sys.executable).with_name("dgenerate")


def run(model: str, out: Path, args: argparse.Namespace, executor: str | None) -> float:
    command = [str(DGENERATE), model, "--prompts", "a large red circle in the center, blue "
               "background", "--seeds", *map(str, range(1, args.seeds + 1)),
               "--inference-steps", str(args.steps), "--output-size", str(args.size),
               "--output-path", str(out), *shlex.split(args.extra)]
    if executor:
        command += ["--job-executor", executor]
    environment = dict(os.environ)
    if args.threads:
        environment["OMP_NUM_THREADS"] = str(args.threads)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environment)
    return time.perf_counter() - start


def same_images(first: Path, second: Path) -> bool:
    names = sorted(path.name for path in first.glob("*.png"))
    return names == sorted(path.name for path in second.glob("*.png")) and all(
        (first / name).read_bytes() == (second / name).read_bytes() for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:shapes")
    parser.add_argument("--extra", default="", help="more dgenerate arguments")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ray-args", default="", help="more ray URI arguments")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        local = run(args.model, root / "local", args, None)
        print(f"grid: {args.seeds} jobs x {args.steps} steps at {args.size} px, {args.model}")
        print(f"{'executor':<34}{'wall s':>8}{'jobs/s':>8}{'speed-up':>10}  same pixels")
        print(f"{'local':<34}{local:>8.1f}{args.seeds / local:>8.2f}{1.0:>10.2f}  -")
        for workers in args.workers:
            uri = ";".join(filter(None, ["ray", f"workers={workers}", *(
                [f"threads={args.threads}"] if args.threads else []), args.ray_args]))
            out = root / f"ray{workers}"
            seconds = run(args.model, out, args, uri)
            print(f"{uri:<34}{seconds:>8.1f}{args.seeds / seconds:>8.2f}"
                  f"{local / seconds:>10.2f}  {same_images(root / 'local', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
