"""Robustness items checked through the command line, as a user meets them: web downloads,
processor arguments of dgenerate 5.0.0 scripts, sigma expressions, template variables."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .source_fixtures import FileServer, serve
from .support import BUILTIN_ONLY as ENV
from .support import render_quick as render

pytestmark = pytest.mark.usefixtures("restore_process_state")

EMBEDDED = "embedded:shapes"


@pytest.fixture
def server() -> Iterator[FileServer]:
    yield from serve()


def script(tmp_path: Path, text: str, **environment: str):
    path = tmp_path / "s.dgen"
    path.write_text(textwrap.dedent(text))
    return run_cli("--file", str(path), env={**ENV, "DGENERATE_CACHE": str(tmp_path / "cache"),
                                             **environment})


def test_a_truncated_download_is_an_error_and_is_not_cached(tmp_path: Path,
                                                            server: FileServer) -> None:
    url = server.add("/model.bin", b"x" * 100, length=1000)
    result = script(tmp_path, f"\\download path {url}\n")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "the connection closed after 100 of the 1000 bytes" in result.stderr
    assert not list((tmp_path / "cache").rglob("model.bin"))
    server.add("/model.bin", b"y" * 1000)
    again = script(tmp_path, f"\\download path {url}\n\\print {{{{ path }}}}\n")
    assert again.exit_code == 0, again.stderr
    assert Path(again.stdout.strip()).read_bytes() == b"y" * 1000


def test_the_download_size_cap_and_time_limit(tmp_path: Path, server: FileServer) -> None:
    big = server.add("/big.bin", b"z" * 4096)
    capped = script(tmp_path, f"\\download path {big}\n",
                    DGENERATE_WEB_CACHE_MAX_BYTES="1KiB")
    assert capped.exit_code == 1
    assert "the download size limit of 1 KiB (1024 bytes)" in capped.stderr
    slow = server.add("/slow.bin", b"s" * 50, chunk=1, delay=0.05)
    timed = script(tmp_path, f"\\download path {slow}\n", DGENERATE_WEB_DOWNLOAD_TIMEOUT="0.5")
    assert timed.exit_code == 1
    assert "took longer than the download time limit of 0.5 seconds" in timed.stderr


@pytest.mark.parametrize("url", ["http://[::1/x.png", "http:///x.png", "https://"])
def test_malformed_urls_in_image_seeds(tmp_path: Path, url: str) -> None:
    result = run_cli("./no/such/model", "--image-seeds", url, "--dry-run", "--output-path",
                     str(tmp_path), env=ENV)
    assert result.exit_code == 1
    assert f"image seed {url!r}: {url!r} is not a URL that can be downloaded" in result.stderr
    assert "unexpected" not in result.stderr


@pytest.mark.parametrize(("box", "black"), [
    ("16", (16, 16, 48, 24)),  # 64x40 image inset by 16 on every side
    ("10x4", (10, 4, 54, 36)),  # inset 10 left and right, 4 top and bottom
    ("1x2x30x20", (1, 2, 30, 20)),  # a box
])
def test_outpaint_mask_box_forms_of_5_0_0_scripts(tmp_path: Path, box: str,
                                                  black: tuple[int, int, int, int]) -> None:
    Image.new("RGB", (64, 40), "red").save(tmp_path / "in.png")
    result = run_cli("--sub-command", "image-process", str(tmp_path / "in.png"), "-p",
                     f"outpaint-mask;box={box}", "-o", str(tmp_path / "mask.png"), env=ENV)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "mask.png") as mask:
        assert mask.convert("L").point(lambda value: 255 - value).getbbox() == black


def test_sigma_expressions_cannot_touch_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = render(EMBEDDED, tmp_path / "out", "--sigmas",
                    "expr: np.savetxt('leak.txt', sigmas)", "--schedulers",
                    "EulerDiscreteScheduler", "--seeds", "1")
    assert result.exit_code == 1
    assert "np.savetxt is not available in sigma expressions" in result.stderr
    assert not (tmp_path / "leak.txt").exists()
    fine = render(EMBEDDED, tmp_path / "out", "--sigmas", "expr: np.clip(sigmas * 0.95, 0, 20)",
                  "--schedulers", "EulerDiscreteScheduler", "--seeds", "1")
    assert fine.exit_code == 0, fine.stderr


def test_last_seeds_are_whole_numbers(tmp_path: Path) -> None:
    result = script(tmp_path, f"""\\
        {EMBEDDED} --seeds 5 6 --inference-steps 1 --output-path {tmp_path / 'a'} --dry-run
        \\print {{{{ last_seeds }}}} {{{{ last_seeds[0] + 1 }}}}
        {EMBEDDED} --gen-seeds 2 --inference-steps 1 --output-path {tmp_path / 'b'} --dry-run
        \\print {{{{ last_seeds | map('int') | list == last_seeds }}}} {{{{ last_seeds | length }}}}
        \\setp total last_seeds[0] + last_seeds[1]
        """)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith((" ", "job"))]
    assert lines == ["[5, 6] 6", "True 2"]
