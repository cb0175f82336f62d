"""Peak memory while rendering a video frame by frame (run by hand).

    .venv/bin/python bench/animation_memory.py

Makes two small synthetic videos, 50 and 500 frames, and runs img2img over
each with the embedded model in a fresh dgenerate process, writing frames and
an mp4. Frames are decoded, rendered and encoded one at a time, so the peak
memory should not grow with the length of the input (target: the 500-frame
run peaks within 10% of the 50-frame run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET = 1.1

CHILD = r"""
import json, resource, sys
from dgenerate.kernel.cli.main import main
status = main(sys.argv[1:])
print(json.dumps({"status": status,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_video(path: Path, frames: int) -> None:
    from PIL import Image

    from dgenerate.plugin_api.media.writing import write_animation

    images = (Image.new("RGB", (64, 64), ((index * 7) % 256, 80, 160)) for index in range(frames))
    write_animation(str(path), "mp4", 12.0, images)


def peak(model: str, video: Path, out: Path) -> int:
    arguments = [model, "--image-seeds", str(video), "--inference-steps", "2",
                 "--seeds", "1", "--output-path", str(out), "--output-overwrite"]
    completed = subprocess.run([sys.executable, "-c", CHILD, *arguments], capture_output=True,
                               text=True, check=True)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    if report["status"] != 0:
        raise SystemExit(f"dgenerate failed: {completed.stderr}")
    return report["peak_kib"]


def main() -> int:
    model = "embedded:shapes"
    work = Path(tempfile.mkdtemp(prefix="dgenerate-bench-"))
    results = {}
    for frames in (50, 500):
        video = work / f"video-{frames}.mp4"
        make_video(video, frames)
        results[frames] = peak(model, video, work / f"out-{frames}")
        print(f"{frames:4d} frames: peak RSS {results[frames] / 1024:.0f} MiB")
    ratio = results[500] / results[50]
    print(f"ratio: {ratio:.3f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
