"""Outputs are never lost or left half-written: name claims between processes, SIGTERM,
stale temporary files, disk errors, and resuming an interrupted run (--skip-existing)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.files import (
    atomic_new_file,
    atomic_output,
    remove_stale_temporaries,
    temporary_prefix,
)
from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .support import DGENERATE, clean_environment, names
from .support import render_ok as ok
from .support import render_quick as render

EMBEDDED = "embedded:shapes"


def temporaries(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if ".~dgtmp-" in name]


def start(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(DGENERATE), *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env=clean_environment(DGENERATE_DISABLE_PLUGINS="*"))


# --------------------------------------------------------------- claiming names


def test_a_name_taken_while_writing_moves_to_the_next_free_one(tmp_path: Path) -> None:
    target = tmp_path / "image.png"
    with atomic_new_file(target) as new_file:
        new_file.temporary.write_bytes(b"mine")
        target.write_bytes(b"another process's")  # appears before this file is complete
    assert new_file.path == tmp_path / "image_duplicate_1.png"
    assert target.read_bytes() == b"another process's"
    assert new_file.path.read_bytes() == b"mine"
    assert temporaries(tmp_path) == []


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_new_file(tmp_path / "x.png") as new_file:
        new_file.temporary.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []


def test_processes_rendering_into_one_folder_lose_nothing(tmp_path: Path) -> None:
    """Two renders with the same seeds write the same names into one folder at once: every
    image is kept, the later ones as _duplicate_1."""
    out = tmp_path / "out"
    arguments = (EMBEDDED, "--seeds", "1", "2", "3", "--inference-steps", "1", "--output-path",
                 str(out))
    processes = [start(*arguments) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    written = names(out)
    assert len(written) == 6, written
    assert sum("_duplicate_1" in name for name in written) == 3


def test_processes_running_image_process_into_one_folder_lose_nothing(tmp_path: Path,
                                                                      media: Path) -> None:
    out = tmp_path / "out"
    processes = [start("--sub-command", "image-process", str(media / "horse1.jpg"),
                       str(media / "dog-on-bench.png"), "-o", f"{out}/", "--resize", "32",
                       "-p", "flip") for _ in range(4)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    written = names(out)
    assert len(written) == 8, written
    assert temporaries(out) == []


# ------------------------------------------------------------ interruptions


def test_sigterm_is_a_clean_exit_143_that_removes_temporary_files(tmp_path: Path,
                                                                 media: Path) -> None:
    out = tmp_path / "out"
    process = start(EMBEDDED, "--image-seeds", str(media / "kitten.gif"), "--output-size", "64",
                    "--inference-steps", "8", "--seeds", "1", "--animation-format", "gif",
                    "--output-path", str(out))
    deadline = time.time() + 240
    while time.time() < deadline and not (out.is_dir() and temporaries(out)):
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    assert temporaries(out), "the animation's temporary file never appeared"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip().endswith("dgenerate: error: terminated")
    assert "Traceback" not in stderr
    assert temporaries(out) == []
    assert not [name for name in names(out) if name.startswith("ANIM_")]


def test_stale_temporary_files_of_killed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    host = temporary_prefix("x").split("-", 2)[2].rstrip("~")
    dead = out / f".image.~dgtmp-{2**22 + 12345}-{host}~abc.png"  # no such process
    dead_frames = out / f".ANIM.~dgtmp-{2**22 + 12345}-{host}~abc.frames.xyz"
    alive = out / f"{temporary_prefix('image')}def.png"  # this process is running
    old = out / ".other.~dgtmp-1-otherhost~ghi.png"  # another host's, a week old
    not_ours = out / ".image.abc.png"
    for path in (dead, alive, old, not_ours):
        path.write_bytes(b"partial")
    dead_frames.mkdir()
    (dead_frames / "00000000.png").write_bytes(b"frame")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    ok(EMBEDDED, out, "--seeds", "1", "--inference-steps", "1")
    remaining = sorted(os.listdir(out))
    assert remaining == sorted([alive.name, not_ours.name, "s_1_g_5-0_i_1_step_1.png"])
    assert remove_stale_temporaries(out) == []


# -------------------------------------------------------------- disk errors


def test_a_full_disk_is_one_error_naming_the_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    result = render(EMBEDDED, tmp_path, "--seeds", "1", "--inference-steps", "1")
    assert result.exit_code == 1
    path = tmp_path / "s_1_g_5-0_i_1_step_1.png"
    assert result.stderr == (f"dgenerate: error: cannot write '{path}': No space left on "
                             "device\n")
    assert os.listdir(tmp_path) == []


def test_atomic_output_reports_write_errors_as_user_errors(tmp_path: Path) -> None:
    from dgenerate.plugin_api import DgenerateError

    missing = tmp_path / "no-such-folder" / "file.txt"
    with pytest.raises(DgenerateError, match=r"cannot write '.*file.txt': No such file"), \
            atomic_output(missing) as temporary:
        temporary.write_text("x")


def test_a_read_only_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests run as root, which chmod does not stop: the file system's answers are simulated
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: (
        False if Path(path) == tmp_path else real_access(path, mode, **kwargs)))
    result = render(EMBEDDED, tmp_path, "--seeds", "1")
    assert result.exit_code == 1
    assert result.stderr == (f"dgenerate: error: --output-path '{tmp_path}': the folder "
                             f"'{tmp_path}' is not writable\n")
    monkeypatch.setattr(os, "access", real_access)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    result = render(EMBEDDED, tmp_path, "--seeds", "1", "--inference-steps", "1")
    assert result.exit_code == 1
    assert result.stderr == (f"dgenerate: error: cannot write '{tmp_path}/s_1_g_5-0_i_1_step_1"
                             ".png': Read-only file system\n")


# ------------------------------------------------------- resuming a grid


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_skip_existing_resumes_an_interrupted_grid(tmp_path: Path) -> None:
    out = tmp_path / "out"
    grid = ("--prompts", "a red circle", "a blue square", "--seeds", "5", "6",
            "--inference-steps", "1", "--output-configs")
    ok(EMBEDDED, out, *grid)
    complete = {name: (out / name).read_bytes() for name in names(out)}
    assert len(complete) == 8  # 4 images and their configs
    for name in ("s_6_g_5-0_i_1_step_2.png", "s_5_g_5-0_i_1_step_3.png",
                 "s_5_g_5-0_i_1_step_3.dgen"):
        (out / name).unlink()  # the run was interrupted
    resumed = ok(EMBEDDED, out, *grid, "--skip-existing")
    assert resumed.stdout.count("exists ") == 2 and resumed.stdout.count("wrote ") == 2
    assert {name: (out / name).read_bytes() for name in names(out)} == complete


def test_skip_existing_gives_the_same_last_images_and_skips_animations(tmp_path: Path,
                                                                      media: Path) -> None:
    out = tmp_path / "out"
    script = tmp_path / "s.dgen"
    script.write_text(
        f"{EMBEDDED} --seeds 1 --inference-steps 1 --output-path {out} --image-seeds "
        f"'{media / 'kitten.gif'};64' --frame-end 1 --animation-format gif\n"
        f"{EMBEDDED} --seeds 1 2 --inference-steps 1 --output-path {out}\n"
        "\\print {{ last_images }}\n")
    first = run_cli("--file", str(script), env=ENV)
    assert first.exit_code == 0, first.stderr
    written = names(out)
    again = run_cli("--file", str(script), "--skip-existing", env=ENV)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
    assert "wrote" not in again.stdout and names(out) == written
    assert "exists " + str(out / "ANIM_s_1_st_0-8_g_5-0_i_1_step_1.gif") in again.stdout


def test_skip_existing_replaces_a_partly_written_animation_job(tmp_path: Path,
                                                               media: Path) -> None:
    out = tmp_path / "out"
    arguments = ("--seeds", "1", "--inference-steps", "1", "--image-seeds",
                 f"{media / 'kitten.gif'};64", "--frame-end", "1")
    ok(EMBEDDED, out, *arguments)
    (out / "ANIM_s_1_st_0-8_g_5-0_i_1_step_1.mp4").unlink()  # interrupted before the end
    frame = pixels(out / "s_1_st_0-8_g_5-0_i_1_frame_1_step_1.png")
    ok(EMBEDDED, out, *arguments, "--skip-existing")
    assert names(out) == ["ANIM_s_1_st_0-8_g_5-0_i_1_step_1.mp4",
                          "s_1_st_0-8_g_5-0_i_1_frame_1_step_1.png",
                          "s_1_st_0-8_g_5-0_i_1_frame_2_step_1.png"]  # no duplicates
    assert np.array_equal(pixels(out / "s_1_st_0-8_g_5-0_i_1_frame_1_step_1.png"), frame)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--skip-existing"], "--skip-existing needs --seeds"),
    (["--skip-existing", "--gen-seeds", "2"], "--skip-existing needs --seeds"),
    (["--skip-existing", "--seeds", "1", "--output-overwrite"], "cannot be used together"),
])
def test_skip_existing_errors(tmp_path: Path, arguments: list[str], message: str) -> None:
    result = render(EMBEDDED, tmp_path, *arguments)
    assert result.exit_code == 1 and message in result.stderr


def test_dry_run_shows_the_jobs_it_would_skip(tmp_path: Path) -> None:
    ok(EMBEDDED, tmp_path, "--seeds", "1", "--inference-steps", "1")
    result = ok(EMBEDDED, tmp_path, "--seeds", "1", "2", "--inference-steps", "1", "--dry-run",
                "--skip-existing")
    assert result.stdout.splitlines()[:2] == [
        "job 1: skipped, its files exist:", f"    {tmp_path / 's_1_g_5-0_i_1_step_1.png'}"]
    assert "job 2: prompt=''" in result.stdout


def test_hostname_is_part_of_the_temporary_name() -> None:
    assert temporary_prefix("a").startswith(f".a.~dgtmp-{os.getpid()}-")
    assert temporary_prefix("a").endswith("~")
    host = "".join(character for character in socket.gethostname()
                   if character.isalnum() or character == "-")[:32]
    assert host in temporary_prefix("a")
