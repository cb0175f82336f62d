"""The config lexer and shell parser, rule by rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgenerate.kernel.config.lexer import Statement, lex, strip_comment
from dgenerate.kernel.config.versions import check_version_line
from dgenerate.plugin_api.shell import ShellSyntaxError, expand_env, shell_parse


def commands(text: str) -> list[tuple[str, int]]:
    return [(statement.text, statement.line) for statement in lex(text)]


@pytest.mark.parametrize(("line", "expected"), [
    ("plain text", "plain text"),
    ("text # tail comment", "text "),
    ("# whole line", ""),
    (r"hello \# world # comment", "hello # world "),
    ('\\set v "hello # world!" # comment', '\\set v "hello # world!" '),
    ("\\set v 'a # b' # c", "\\set v 'a # b' "),
    ('\\set v "open string # comment', '\\set v "open string '),
    ('\\set v "open \\# kept # comment', '\\set v "open # kept '),
    ('a "x # y" "open # z', 'a "x # y" "open '),
    (r"url https://h/\#frag", "url https://h/#frag"),
])
def test_comments(line: str, expected: str) -> None:
    assert strip_comment(line) == expected


def test_blank_lines_comments_and_line_numbers() -> None:
    text = "#! /usr/bin/env dgenerate --file\n\n# comment\n\\print a\n\n  \\print b  # tail\n"
    assert commands(text) == [("\\print a", 4), ("\\print b", 6)]


def test_backslash_continuation_is_posix() -> None:
    text = "\\print one\\\ntwo \\\n    three\n\\print after"
    assert commands(text) == [("\\print onetwo three", 1), ("\\print after", 4)]


def test_comments_and_blank_lines_inside_a_continuation() -> None:
    text = ("model --prompts p \\ # comment after the backslash\n"
            "# a comment line\n\n"
            "   --seeds 1\n")
    assert commands(text) == [("model --prompts p --seeds 1", 1)]


def test_dash_lines_continue_with_a_space() -> None:
    text = ("model --prompts \"a\"\n--output-path out # comment\n  --inference-steps 30 \\\n"
            "# interlude\n--guidance-scales 10\nnext --x\n")
    assert commands(text) == [
        ('model --prompts "a" --output-path out --inference-steps 30 --guidance-scales 10', 1),
        ("next --x", 6)]


def test_strings_continued_over_lines_keep_escaped_hashes() -> None:
    text = ('\\set v "first line \\# kept \\ # comment\n'
            '        second line" # comment\n')
    assert commands(text) == [('\\set v "first line # kept second line"', 1)]


def test_template_blocks_run_until_balanced() -> None:
    text = ("\\print before\n"
            "{% for i in range(2) %}\n"
            "\\print {{ i }}  # kept for the second pass\n"
            "{% if i %}\n{% endif %}\n"
            "{% endfor %}\n"
            "\\print after\n"
            "{{ 'single line' }}\n"
            "{% set x = 1 %}\n")
    statements = list(lex(text))
    assert [statement.kind for statement in statements] == [
        "command", "template", "command", "template", "template"]
    assert statements[1] == Statement(
        "template", "{% for i in range(2) %}\n\\print {{ i }}  # kept for the second pass\n"
                    "{% if i %}\n{% endif %}\n{% endfor %}", 2)
    assert statements[2].line == 7


def test_template_lines_go_on_like_commands() -> None:
    text = ("{{ model }} --prompts a \\\n"
            "\n"
            "  b\n"
            "--seeds 1\n"
            "\\print next\n")
    first, second = lex(text)
    assert first == Statement("template", "{{ model }} --prompts a \\\n\n  b\n--seeds 1", 1)
    assert second == Statement("command", "\\print next", 5)
    # the expansion is lexed again: the pieces join into one command
    assert commands("m --prompts a \\\n\n  b\n--seeds 1") == [("m --prompts a b --seeds 1", 1)]


def test_old_end_markers_are_dropped() -> None:
    [statement] = lex("{% if True %}\n\\print x\n{% endif %} !END\n")
    assert statement.text.endswith("{% endif %}")


def test_environment_expansion() -> None:
    environ = {"NAME": "value", "EMPTY": ""}
    assert expand_env("$NAME ${NAME} %NAME% $MISSING|%MISSING%|${MISSING}", environ) == (
        "value value value ||")
    assert expand_env("50% off, 100%done, $1, \\$NAME", environ) == "50% off, 100%done, $1, \\$NAME"


@pytest.mark.parametrize(("text", "expected"), [
    ("a b  c", ["a", "b", "c"]),
    ('--prompts "a cat; a dog" x', ["--prompts", "a cat; a dog", "x"]),
    ("'single $NAME'", ["single $NAME"]),
    ('"double $NAME"', ["double value"]),
    ("text$NAME", ["textvalue"]),
    ("uri;arg=1;other=2", ["uri;arg=1;other=2"]),
    ("'model;quantizer=\"bnb;bits=8\"'", ['model;quantizer="bnb;bits=8"']),
    ('"adetailer;pw=\'compel;syntax=sdwui\'"', ["adetailer;pw='compel;syntax=sdwui'"]),
    ("a|b", ["a|b"]),
    ("trained-betas=[1,2]", ["trained-betas=[1,2]"]),
    ("https://host/x?a=1&b=*", ["https://host/x?a=1&b=*"]),
    ('key="a b" tail', ['key="a b"', "tail"]),
    ("", []),
])
def test_shell_tokens(text: str, expected: list[str]) -> None:
    assert shell_parse(text, environ={"NAME": "value"}) == expected


def test_shell_home_and_globs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("b.png", "a.png", "c.txt"):
        (tmp_path / name).write_text("x")
    assert shell_parse("*.png") == ["a.png", "b.png"]
    assert shell_parse("'*.png'") == ["*.png"]
    assert shell_parse("?.txt") == ["c.txt"]
    assert shell_parse("~/x") == [os.path.expanduser("~/x")]
    assert shell_parse("*.png", expand_globs=False) == ["*.png"]
    with pytest.raises(ShellSyntaxError, match=r"the glob '\*.gif' matches no files"):
        shell_parse("*.gif")


def test_shell_errors_and_operators() -> None:
    with pytest.raises(ShellSyntaxError, match="is never closed"):
        shell_parse('a "open')
    assert shell_parse("python -c 'x' | sort > out 2>&1 < in &>> log", operators=True) == [
        "python", "-c", "x", "|", "sort", ">", "out", "2>&1", "<", "in", "&>>", "log"]
    assert shell_parse("a|b", operators=True) == ["a", "|", "b"]


@pytest.mark.parametrize(("line", "running", "warns"), [
    ("#! dgenerate 0.1.0", "0.1.0", False),
    ("#! dgenerate 0.1.0", "0.1.5", False),
    ("#! dgenerate 0.2.0", "0.1.0", True),
    ("#! dgenerate 1.2.0", "1.4.0", False),
    ("#! dgenerate 1.5.0", "1.4.0", True),
    ("#! /usr/bin/env dgenerate --file", "0.1.0", False),
    # the config language of 5.0.0 is implemented: every 5.x script runs as written
    ("#! dgenerate 5.0.0", "0.1.0", False),
    ("#! dgenerate 5.3.1", "0.1.0", False),
    ("#! dgenerate 4.5.0", "0.1.0", True),
    ("#! dgenerate 6.0.0", "0.1.0", True),
])
def test_version_lines(line: str, running: str, warns: bool) -> None:
    assert bool(check_version_line(line, running)) is warns
