"""Peak memory of txt2img -> img2img -> inpaint on one model in one process (by hand).

    .venv/bin/python bench/memory_modes.py

Runs two fresh processes on a random-weight model of about 300 MB: one renders
txt2img only (one pipeline), the other renders txt2img, img2img and inpaint in
turn through one dgenerate context. Because img2img and inpaint reuse the loaded
modules, the second should peak at no more than 1.1x the first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _models import REPO, model_folder

TARGET = 1.1

CHILD = r"""
import json, resource, sys, tempfile
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.plugins.manager import PluginManager
from dgenerate.kernel.render.loop import render
from dgenerate.kernel.cli.commands import make_plan

model, media, modes = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
manager = PluginManager(); manager.autoload()
context = KernelContext(manager)
out = tempfile.mkdtemp()
seeds = {"txt2img": [], "img2img": ["--image-seeds", f"{media}/horse1.jpg;256x144"],
         "inpaint": ["--image-seeds", f"{media}/horse1.jpg;{media}/horse1-mask.jpg;256x144"]}
for mode in modes:
    arguments = [model, "--seeds", "1", "--inference-steps", "4", "--output-size", "256",
                 "--output-path", out, *seeds[mode]]
    parser = build_parser(manager)
    render(context, make_plan(context, parser, parser.parse_args(arguments)))
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak(model: Path, modes: str) -> int:
    media = REPO / "examples" / "media"
    completed = subprocess.run([sys.executable, "-c", CHILD, str(model), str(media), modes],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])["peak_kib"]


def main() -> int:
    model = model_folder("large", unet_channels=(256, 512), vae_channels=64)
    one = peak(model, "txt2img")
    three = peak(model, "txt2img,img2img,inpaint")
    ratio = three / one
    print(f"txt2img only              : peak RSS {one / 1024:.0f} MiB")
    print(f"txt2img, img2img, inpaint : peak RSS {three / 1024:.0f} MiB")
    print(f"ratio                     : {ratio:.3f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
