"""Written configs quote every value so that replaying one reproduces it and runs nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dgenerate.kernel.config.lexer import lex
from dgenerate.kernel.config.templates import TemplateRenderer
from dgenerate.plugin_api.shell import config_word, shell_parse
from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .support import render_ok as ok


def read_back(line: str) -> list[str]:
    """What the config runner makes of one written line: lexed, rendered, shell-parsed."""
    [statement] = list(lex(line))
    return shell_parse(TemplateRenderer({}).render(statement.text, {}))


HOSTILE = [
    "{{ os.system('touch pwned') }}", "{% for x in range(3) %}x{% endfor %}", "a {# b", "#x",
    "line one\nline two", "carriage\rreturn", "tab\there", "nul\x00byte", "it's", 'say "hi"',
    "back\\slash\\", "$HOME %PATH% ${X}", "~/home *.png ?", "a;b,c+d|e", "\u2028\x85\x0c",
    "", " ", "-leading-dash", "trailing \\", "}} %} #}", "\\'\\\"",
]


def test_hostile_values_read_back_exactly() -> None:
    for value in HOSTILE:
        assert read_back(f"--prompts {config_word(value)}") == ["--prompts", value], value


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_reads_back_exactly(value: str) -> None:
    assert read_back(f"model {config_word(value)} --seeds 1") == ["model", value, "--seeds", "1"]


def test_plain_words_stay_readable() -> None:
    assert [config_word(word) for word in ("sd", "1.5", "a/b.png", "x=1;y")] == [
        "sd", "1.5", "a/b.png", "'x=1;y'"]


def test_a_replayed_config_renders_the_prompt_and_runs_nothing(tiny_sd: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    prompt = ("{{ os.system('touch pwned') }} a {# red #} circle\nwith it's \\ $HOME "
              "%PATH%; {% raw %}blurry")
    ok(tiny_sd, tmp_path / "first", "--seeds", "4", "--prompts", prompt, "--output-configs",
       "--output-metadata")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    [image] = sorted((tmp_path / "first").glob("*.png"))
    with Image.open(image) as opened:
        assert opened.text["DgenerateConfig"] == config.read_text()
    # replayed as a user would, writing its own config: the same text means the same prompt
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"),
                     "--output-configs", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "again" / config.name).read_text() == config.read_text()
    with Image.open(image) as first, Image.open(tmp_path / "again" / image.name) as again:
        assert np.array_equal(np.asarray(first), np.asarray(again))
