"""\\download and download(): the web cache, explicit paths, reuse, text refusal."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dgenerate.plugin_api.testing import run_cli

from .source_fixtures import FileServer, serve

pytestmark = pytest.mark.usefixtures("restore_process_state")


@pytest.fixture
def server() -> Iterator[FileServer]:
    yield from serve()


def run(tmp_path: Path, text: str, *arguments: str):
    script = tmp_path / "s.dgen"
    script.write_text(textwrap.dedent(text))
    return run_cli("--file", str(script), *arguments,
                   env={"DGENERATE_DISABLE_PLUGINS": "*",
                        "DGENERATE_CACHE": str(tmp_path / "cache")})


def test_download_into_the_cache_then_reuse(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/models/weights.bin", b"\x00binary", headers={
        "Content-Type": "application/octet-stream"})
    result = run(tmp_path, f"""
        \\download path {url}
        \\print {{{{ path }}}}
        \\download again {url}
        \\print {{{{ path == again }}}}
        \\setp third download('{url}')
        \\print {{{{ third == path }}}}
        """)
    assert result.exit_code == 0, result.stderr
    path, same, third = result.stdout.splitlines()
    assert Path(path).read_bytes() == b"\x00binary"
    assert Path(path).name == "weights.bin" and str(tmp_path / "cache" / "web") in path
    assert (same, third) == ("True", "True")
    assert server.hits["/models/weights.bin"] == 1
    overwrite = run(tmp_path, f"\\download path {url} -x\n")
    assert overwrite.exit_code == 0
    assert server.hits["/models/weights.bin"] == 2


def test_download_to_a_file_and_a_folder(tmp_path: Path, server: FileServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = server.add("/a/model.safetensors", b"weights")
    named = server.add("/api/download/7", b"other", headers={
        "Content-Disposition": 'attachment; filename="served-name.ckpt"'})
    result = run(tmp_path, f"""
        \\download one {url} -o models/copy.safetensors
        \\download two {url} -o models/
        \\download three {named} -o named/
        \\print {{{{ one }}}} {{{{ two }}}} {{{{ three }}}}
        \\download four {url} -o models/copy.safetensors
        \\print {{{{ download('{url}', output='models/') }}}}
        """)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [str(tmp_path / "models/copy.safetensors"),
                                str(tmp_path / "models/model.safetensors"),
                                str(tmp_path / "named/served-name.ckpt")]
    assert lines[1] == str(tmp_path / "models/model.safetensors")
    assert (tmp_path / "models/copy.safetensors").read_bytes() == b"weights"
    assert server.hits["/a/model.safetensors"] == 2  # the reuses did not download


def test_text_is_refused_unless_asked_for(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/page", b"<html></html>", headers={"Content-Type": "text/html"})
    refused = run(tmp_path, f"\\download page {url}\n")
    assert refused.exit_code == 1
    assert "sent text (text/html)" in refused.stderr
    accepted = run(tmp_path, f"\\download page {url} -t\n\\print {{{{ page }}}}\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert Path(accepted.stdout.strip()).read_bytes() == b"<html></html>"


@pytest.mark.parametrize(("line", "message"), [
    ("\\download", "\\download: "),
    ("\\download 1bad http://127.0.0.1:9/x", "'1bad' is not a valid variable name"),
    ("\\download x {base}/missing", "HTTP 404"),
])
def test_download_errors(tmp_path: Path, server: FileServer, line: str, message: str) -> None:
    result = run(tmp_path, line.format(base=server.base) + "\n")
    assert result.exit_code == 1
    assert message in result.stderr


def test_download_help(tmp_path: Path) -> None:
    result = run(tmp_path, "\\download --help\n\\print after\n")
    assert result.exit_code == 0
    assert "usage: \\download" in result.stdout and result.stdout.endswith("after\n")


def test_offline_downloads_reuse_or_fail(tmp_path: Path, server: FileServer) -> None:
    url = server.add("/w.bin", b"w")
    assert run(tmp_path, f"\\download p {url}\n").exit_code == 0
    reuse = run(tmp_path, f"\\download p {url}\n\\print {{{{ p }}}}\n", "--offline-mode")
    assert reuse.exit_code == 0, reuse.stderr
    missing = run(tmp_path, f"\\download p {server.base}/other.bin\n", "--offline-mode")
    assert missing.exit_code == 1
    assert "offline mode forbids downloading it" in missing.stderr
