"""Start-up time of the dgenerate command (run by hand, never by the test suite).

    .venv/bin/python bench/startup.py [--runs N]

Runs each command N times in a fresh process and prints the median and the
spread of wall-clock times. The target on a 2-core CPU machine is a median of
at most 0.3 s for --help and the listings: plugin discovery and registration
modules must stay light (see docs/plugins/guide.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

DGENERATE = str(Path(sys.executable).with_name("dgenerate"))
COMMANDS = [
    ["--version"],
    ["--help"],
    ["--image-processor-help"],
    ["--image-processor-help", "flip"],
    ["--directives-help"],
]
TARGET_SECONDS = 0.3


def time_command(arguments: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([DGENERATE, *arguments], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11)
    options = parser.parse_args()
    time_command(["--help"], 2)  # warm the file cache and the entry-point cache
    print(f"{'command':40} {'median':>8} {'min':>8} {'max':>8}")
    slow = False
    for arguments in COMMANDS:
        times = time_command(arguments, options.runs)
        median = statistics.median(times)
        slow |= median > TARGET_SECONDS and arguments != ["--image-processor-help", "flip"]
        print(f"{'dgenerate ' + ' '.join(arguments):40} {median:8.3f} {min(times):8.3f} "
              f"{max(times):8.3f}")
    print(f"target: median <= {TARGET_SECONDS} s for --help and the listings: "
          f"{'MISSED' if slow else 'met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
