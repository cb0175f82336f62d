"""The ``ray`` job executor on a local Ray instance (this process starts it once): the same
files, bytes, configs, printed lines and ``last_images`` as the local executor, a worker
killed mid-grid (its job runs again elsewhere, nothing lost or duplicated), a resumed
grid, and one clear error for a user's mistake made inside a worker."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY, DGENERATE, clean_environment, names

GRID = ("embedded:shapes", "--prompts", "a red circle", "a blue square on the left",
        "--seeds", "1", "2", "--inference-steps", "2", "--output-size", "64")
RAY = ("--job-executor", "ray;workers=2")

KILLER = '''
import os

from dgenerate.plugin_api import DgenerateError, ImageProcessor, ImageProcessorSpec, hookimpl


class KillOnce(ImageProcessor):
    """Kills the process it runs in the first time it runs anywhere (a marker file says
    it has): a worker lost mid-grid."""

    def __init__(self, marker: str = "", **arguments):
        super().__init__(**arguments)
        self.marker = marker

    def process(self, image):
        if self.marker and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(17)
        return image


class Refuse(ImageProcessor):
    def process(self, image):
        raise DgenerateError("refuse: this image is not welcome")


@hookimpl
def dgenerate_image_processors():
    yield ImageProcessorSpec(name="kill-once", summary="Kill the worker once.",
                             target=":KillOnce")
    yield ImageProcessorSpec(name="refuse", summary="Refuse every image.", target=":Refuse")
'''


@pytest.fixture(scope="module", autouse=True)
def _ray_stops_after_these_tests():
    """The Ray instance the executor starts in this process stops with the module, so it
    does not hold CPUs and memory while other tests run."""
    yield
    import ray

    from dgenerate.plugins_builtin.job_executors.ray import executor

    for pool in executor._POOLS.values():
        pool.close()
    executor._POOLS.clear()
    ray.shutdown()


def _render(out: Path, *arguments: str):
    result = run_cli(*GRID, "--output-path", str(out), *arguments, env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    return result


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names(folder)}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("local")
    result = _render(out, "--output-configs")
    return out, result.stdout


def test_a_grid_on_ray_equals_the_local_one(local: tuple[Path, str], tmp_path: Path) -> None:
    expected, stdout = local
    result = _render(tmp_path, "--output-configs", *RAY)
    assert _files(tmp_path) == _files(expected)  # names, pixels and configs
    wrote = [line.replace(str(tmp_path), "OUT") for line in result.stdout.splitlines()
             if line.startswith("wrote ")]
    assert wrote == [line.replace(str(expected), "OUT") for line in stdout.splitlines()
                     if line.startswith("wrote ")]
    assert len(wrote) == 4


def test_config_lines_keep_their_order(local: tuple[Path, str], tmp_path: Path) -> None:
    script = tmp_path / "script.dgen"
    out = tmp_path / "out"
    grid = " ".join(f'"{word}"' if " " in word else word for word in GRID)
    script.write_text(textwrap.dedent(f"""\
        {grid} --output-path {out} --job-executor "ray;workers=2"
        \\print first: {{{{ last_images }}}}
        embedded:shapes --image-seeds "{{{{ last_images[3] }}}}" --seeds 5 \\
            --inference-steps 2 --output-path {out}/second --job-executor "ray;workers=2"
        \\print second: {{{{ last_images }}}}
        """))
    result = run_cli("--file", str(script), env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    expected = [str(out / line.split("/")[-1]) for line in local[1].splitlines()
                if line.startswith("wrote")]
    assert f"first: {expected}" in result.stdout, result.stdout
    second = [line for line in result.stdout.splitlines() if line.startswith("second: ")]
    assert len(names(out / "second")) == 1
    assert second == [f"second: {[str(out / 'second' / names(out / 'second')[0])]}"]


def test_a_worker_killed_mid_grid_loses_nothing(local: tuple[Path, str], tmp_path: Path) -> None:
    plugin = tmp_path / "killer.py"
    plugin.write_text(KILLER)
    marker = tmp_path / "killed"
    processor = ("--post-processors", f"kill-once;marker={marker}")
    result = run_cli("--plugin-modules", str(plugin), *GRID, "--output-path",
                     str(tmp_path / "ray"), *processor, *RAY, env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    assert marker.exists()  # a worker did die
    # the same grid here, where the marker now stops the processor from killing
    local_run = run_cli("--plugin-modules", str(plugin), *GRID, "--output-path",
                        str(tmp_path / "here"), *processor, env=BUILTIN_ONLY)
    assert local_run.exit_code == 0, local_run.stderr
    assert _files(tmp_path / "ray") == _files(tmp_path / "here") == {
        name: data for name, data in _files(local[0]).items() if name.endswith(".png")}
    assert len([line for line in result.stdout.splitlines() if line.startswith("wrote")]) == 4


def test_skip_existing_resumes_a_grid(local: tuple[Path, str], tmp_path: Path) -> None:
    _render(tmp_path, *RAY)
    first = _files(tmp_path)
    missing = sorted(first)[1:3]
    for name in missing:
        (tmp_path / name).unlink()
    result = _render(tmp_path, "--skip-existing", *RAY)
    assert _files(tmp_path) == first
    assert sorted(line.split("/")[-1] for line in result.stdout.splitlines()
                  if line.startswith("wrote")) == missing
    assert len([line for line in result.stdout.splitlines() if line.startswith("exists")]) == 2


def test_a_mistake_found_in_a_worker_is_one_clear_error(tmp_path: Path) -> None:
    plugin = tmp_path / "killer.py"
    plugin.write_text(KILLER)
    result = run_cli("--plugin-modules", str(plugin), *GRID, "--output-path",
                     str(tmp_path / "out"), "--post-processors", "refuse", *RAY,
                     env=BUILTIN_ONLY)
    assert result.exit_code == 1
    assert result.stderr == "dgenerate: error: refuse: this image is not welcome\n"


@pytest.mark.parametrize(("uri", "message"), [
    ("ray;workers=0", "workers=0 must be at least 1"),
    ("ray;num-cpus=0", "must not be negative, and not both 0"),
    ("ray;max-retries=-1", "max-retries=-1"),
    ("ray;colour=1", "colour"),
])
def test_bad_arguments(tmp_path: Path, uri: str, message: str) -> None:
    result = run_cli(*GRID, "--output-path", str(tmp_path), "--job-executor", uri,
                     env=BUILTIN_ONLY)
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_listing_says_when_ray_is_missing(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env = clean_environment(PYTHONPATH=str(shim), DGENERATE_DISABLE_PLUGINS="*")
    listing = subprocess.run([str(DGENERATE), "--job-executor-help"], capture_output=True,
                             text=True, env=env, timeout=120, check=False)
    assert listing.returncode == 0, listing.stderr
    assert "(unavailable: missing ray)" in listing.stdout
    used = subprocess.run([str(DGENERATE), *GRID, "--output-path", str(tmp_path / "out"),
                           *RAY], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert used.returncode == 1 and "ray" in used.stderr and "Traceback" not in used.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")
def test_sigterm_stops_the_cluster_work(tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [str(DGENERATE), "embedded:shapes", "--prompts", "a red circle", "--seeds",
         *map(str, range(1, 41)), "--inference-steps", "4", "--output-size", "64",
         "--output-path", str(out), *RAY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=clean_environment(DGENERATE_DISABLE_PLUGINS="*"))
    deadline = time.monotonic() + 180
    while not (out.exists() and any(out.glob("*.png"))):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    written = len([line for line in stdout.splitlines() if line.startswith("wrote")])
    assert written < 40
    for path in out.glob("*.png"):  # nothing half-written under a final name
        Image.open(path).load()
