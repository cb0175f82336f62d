"""The prompt-upscale sub-command and the \\prompt_upscale directive.

The upscalers are tiny ones defined here (loaded with --plugin-modules), so these tests
depend on nothing but the sub-command and the prompt-upscaler machinery."""

from __future__ import annotations

import json
import shlex
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml

from dgenerate.plugin_api.shell import shell_parse
from dgenerate.plugin_api.testing import run_cli

ENV = {"DGENERATE_DISABLE_PLUGINS": "*"}

UPSCALERS = '''
import json
import re
from typing import Annotated, Any

from dgenerate.plugin_api import (
    Arg, DirectiveSpec, PromptUpscaler, PromptUpscalerSpec, hookimpl)
from dgenerate.plugin_api.values import Prompt


class Braces(PromptUpscaler):
    """Expands the first {a|b} of the positive part into one prompt per choice."""

    def upscale(self, prompt):
        match = re.search(r"\\{([^{}]*)\\}", prompt.positive)
        if not match:
            return prompt
        head, tail = prompt.positive[:match.start()], prompt.positive[match.end():]
        return [prompt._replace(positive=head + choice + tail)
                for choice in match.group(1).split("|")]


class Shout(PromptUpscaler):
    def upscale(self, prompt):
        return Prompt(prompt.positive.upper(),
                      None if prompt.negative is None else prompt.negative.upper())


class Suffix(PromptUpscaler):
    def __init__(self, text: str = "!"):
        self.text = text

    def upscale(self, prompt):
        return prompt._replace(positive=prompt.positive + self.text)


class Count(PromptUpscaler):
    """Tags prompts with the number of batches this instance has seen."""

    def __init__(self):
        self.batches = 0

    def upscale(self, prompt):
        raise AssertionError("upscale_all is overridden")

    def upscale_all(self, prompts):
        self.batches += 1
        return [[prompt._replace(positive=f"{prompt.positive} n{self.batches}")]
                for prompt in prompts]


class Where(PromptUpscaler):
    """Appends the device it was given and whether it runs offline."""

    def __init__(self, device: Annotated[str, Arg(hidden=True)] = "none",
                 context: Annotated[Any, Arg(hidden=True)] = None):
        self.device = device
        self.offline = context.offline_mode

    def upscale(self, prompt):
        return prompt._replace(
            positive=f"{prompt.positive} {self.device} offline={self.offline}")


class Explode(PromptUpscaler):
    def upscale(self, prompt):
        raise RuntimeError("kaboom")


def show_words(context, args):
    print(json.dumps(list(args)))


@hookimpl
def dgenerate_prompt_upscalers():
    for name, target in (("braces", Braces), ("shout", Shout), ("suffix", Suffix),
                         ("count", Count), ("where", Where), ("explode", Explode)):
        yield PromptUpscalerSpec(name=name, summary="A test upscaler.", target=target)


@hookimpl
def dgenerate_directives():
    yield DirectiveSpec(name="show_words", summary="Print the arguments as JSON.",
                        target=show_words)
'''

#: what most tests upscale: one prompt with a negative part and an embedded argument
PROMPTS = ("a {red|blue} ball; ugly", "<seed: 3> x {1|2}")
EXPECTED = [
    {"positive": "A RED BALL", "negative": "UGLY"},
    {"positive": "A BLUE BALL", "negative": "UGLY"},
    {"positive": "<seed: 3> X 1"},
    {"positive": "<seed: 3> X 2"},
]


@pytest.fixture(scope="session")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("upscalers") / "test_upscalers.py"
    path.write_text(UPSCALERS, encoding="utf-8")
    return str(path)


def upscale(plugin: str, *args: str, cwd: Path | None = None):
    return run_cli("--sub-command", "prompt-upscale", "--plugin-modules", plugin, *args,
                   env=ENV, cwd=str(cwd) if cwd else None)


def ok(plugin: str, *args: str, cwd: Path | None = None) -> str:
    result = upscale(plugin, *args, cwd=cwd)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def error_line(result) -> str:
    """The one error paragraph (autoload warnings of other plugins aside)."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("dgenerate: error")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(("output_format", "load"), [
    ("json", json.loads), ("toml", tomllib.loads), ("yaml", yaml.safe_load),
    ("JSON", json.loads)])
def test_structured_formats_read_back(plugin: str, output_format: str, load) -> None:
    stdout = ok(plugin, "-p", *PROMPTS, "-u", "braces", "shout", "-of", output_format)
    assert load(stdout) == {"prompts": EXPECTED}


def test_structured_formats_keep_awkward_text(plugin: str) -> None:
    awkward = 'tab\there "quote" back\\slash\nnew line \x7f del {{ x }} ünï'
    for output_format, load in (("json", json.loads), ("toml", tomllib.loads),
                                ("yaml", yaml.safe_load)):
        stdout = ok(plugin, "-p", f"{awkward}; neg\r\n", "-of", output_format)
        assert load(stdout) == {"prompts": [{"positive": awkward, "negative": "neg"}]}


def test_text_is_one_prompt_per_line(plugin: str) -> None:
    stdout = ok(plugin, "-p", *PROMPTS, "-u", "braces", "shout")
    assert stdout == ("A RED BALL; UGLY\nA BLUE BALL; UGLY\n<seed: 3> X 1\n<seed: 3> X 2\n")
    assert ok(plugin, "-p", *PROMPTS, "-u", "braces", "shout", "-q", "none") == stdout


#: prompts a quoting mode must carry through intact
AWKWARD = ("it's \"quoted\" $HOME %PATH% back\\slash # not a comment",
           "{{ 7 * 6 }} {% if true %}x{% endif %} ~ *.png",
           "two\nlines; with a negative")


def test_shell_quoting_reads_back_with_shlex(plugin: str) -> None:
    stdout = ok(plugin, "-p", *AWKWARD, "-q", "shell")
    assert shlex.split(stdout) == [str(_parsed(text)) for text in AWKWARD]
    assert len(stdout.splitlines()) == 4  # the line break stays inside its quotes


def _parsed(text: str):
    from dgenerate.plugin_api.prompts import parse_prompt

    return parse_prompt(text)


def test_dgenerate_quoting_reads_back_through_the_config_language(
        plugin: str, tmp_path: Path) -> None:
    expected = [str(_parsed(text)) for text in AWKWARD]
    stdout = ok(plugin, "-p", *AWKWARD, "-q", "dgenerate")
    lines = stdout.splitlines()
    assert len(lines) == 3  # one line per prompt, line breaks written as templates
    # the shell rules alone read back a word without template characters
    assert shell_parse(lines[0], environ={"HOME": "/h", "PATH": "/p"}) == [expected[0]]
    # a config script reads every word back exactly: templates, variables, globs untouched
    script = tmp_path / "words.dgen"
    script.write_text("\\show_words " + " ".join(lines) + "\n", encoding="utf-8")
    result = run_cli("--plugin-modules", plugin, "--file", str(script), env=ENV,
                     cwd=str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == expected


def test_output_file_is_written_whole(plugin: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "prompts.json"
    assert ok(plugin, "-p", *PROMPTS, "-u", "braces", "shout", "-of", "json", "-o",
              str(target)) == ""
    assert json.loads(target.read_text(encoding="utf-8")) == {"prompts": EXPECTED}
    ok(plugin, "-p", "short", "-o", str(target))  # replaced, not appended
    assert target.read_text(encoding="utf-8") == "short\n"
    assert sorted(path.name for path in target.parent.iterdir()) == ["prompts.json"]


def test_unwritable_output_is_one_error(plugin: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = error_line(upscale(plugin, "-p", "a", "-o", str(blocker / "sub" / "out.txt")))
    assert str(blocker / "sub") in line


def test_chains_run_in_order(plugin: str) -> None:
    assert ok(plugin, "-p", "a", "-u", "suffix;text=x", "shout") == "AX\n"
    assert ok(plugin, "-p", "a", "-u", "shout", "suffix;text=x") == "Ax\n"
    assert ok(plugin, "-p", "a {1|2}", "--upscalers", "braces", "suffix;text=?",
              "suffix;text=!") == "a 1?!\na 2?!\n"


def test_embedded_upscaler_replaces_the_chain_for_its_prompt(plugin: str) -> None:
    stdout = ok(plugin, "-p", "<upscaler: shout> a {1|2}", "b {1|2}",
                "<upscaler: braces> <upscaler: suffix;text=!> <seed: 5> c {1|2}; neg",
                "--upscaler", "braces")
    assert stdout.splitlines() == ["A {1|2}", "b 1", "b 2", "<seed: 5> c 1!; neg",
                                   "<seed: 5> c 2!; neg"]


def test_each_uri_is_created_once_per_run(plugin: str) -> None:
    # two chains share the URI "count": one instance sees both batches
    stdout = ok(plugin, "-p", "<upscaler: count> a", "b", "-u", "shout", "count")
    assert stdout.splitlines() == ["a n1", "B n2"]
    # a new run creates a new instance
    assert ok(plugin, "-p", "a", "-u", "count") == "a n1\n"


def test_without_upscalers_prompts_come_back_as_written(plugin: str) -> None:
    assert ok(plugin, "-p", "a ;  b", "c <seed: 2>") == "a; b\n<seed: 2> c\n"


def test_device_and_offline_mode_reach_the_upscalers(plugin: str) -> None:
    assert ok(plugin, "-p", "a", "-u", "where") == "a auto offline=False\n"
    assert ok(plugin, "-p", "a", "-u", "where", "-d", "cuda:1",
              "-ofm") == "a cuda:1 offline=True\n"


@pytest.mark.parametrize(("args", "expected"), [
    (("-u", "nope"), "'nope'"),
    (("-u", "shout;volume=11"), "volume"),
    (("-p", "<upscaler: nope> b"), "'nope'"),
    (("-of", "xml"), "--output-format 'xml' is not one of text, json, toml, yaml"),
    (("-q", "perl"), "--quote 'perl' is not one of none, shell, dgenerate"),
    (("-q", "shell", "-of", "json"), "--quote shell applies to --output-format text only"),
    (("-d", "gpu"), "--device 'gpu'"),
    (("-u", "explode"), "prompt upscaler 'explode' failed: RuntimeError: kaboom"),
])
def test_mistakes_are_one_clear_error(plugin: str, args: tuple[str, ...],
                                      expected: str) -> None:
    arguments = args if "-p" in args else ("-p", "a", *args)
    assert expected in error_line(upscale(plugin, *arguments))


def test_prompts_are_required(plugin: str) -> None:
    result = upscale(plugin, "-u", "shout")
    assert result.exit_code == 2
    assert "-p/--prompts" in result.stderr


def test_help_lists_every_option() -> None:
    result = run_cli("--sub-command-help", "prompt-upscale", env=ENV)
    assert result.exit_code == 0, result.stderr
    for option in ("--prompts", "--upscaler", "--upscalers", "--device", "--output-format",
                   "--output", "--quote", "--offline-mode", "<upscaler: URI>"):
        assert option in result.stdout, option
    assert "--setp" not in result.stdout


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_directive_prints_writes_and_sets_a_variable(plugin: str, tmp_path: Path) -> None:
    script = write(tmp_path / "s.dgen", """
        \\prompt_upscale --help
        \\prompt_upscale -p "a {red|blue} ball; ugly" -u braces shout -of yaml
        \\prompt_upscale -p "x {1|2}" -u braces -o out/p.toml -of toml
        \\prompt_upscale -p "a {red|blue} ball; ugly" "<seed: 3> it's {1|2}" -u braces \\
            --setp got
        \\print {{ got | length }} {{ got[0] }}
        \\show_words --prompts {{ quote(got) }}
        """)
    result = run_cli("--plugin-modules", plugin, "--file", str(script), env=ENV,
                     cwd=str(tmp_path))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "usage: \\prompt_upscale" in out and "--setp VARIABLE_NAME" in out
    assert yaml.safe_load(out[out.index("prompts:"):out.index("4 a red")]) == {
        "prompts": EXPECTED[:2]}
    assert tomllib.loads((tmp_path / "out" / "p.toml").read_text(encoding="utf-8")) == {
        "prompts": [{"positive": "x 1"}, {"positive": "x 2"}]}
    lines = out.splitlines()
    assert lines[-2] == "4 a red ball; ugly"
    assert json.loads(lines[-1]) == ["--prompts", "a red ball; ugly", "a blue ball; ugly",
                                     "<seed: 3> it's 1", "<seed: 3> it's 2"]


def test_directive_offline_mode_and_errors(plugin: str, tmp_path: Path) -> None:
    script = write(tmp_path / "s.dgen", """
        \\prompt_upscale -p a -u where -d cpu -ofm --setp one
        \\prompt_upscale -p a -u where -d cpu --setp two
        \\print {{ one[0] }} / {{ two[0] }}
        """)
    result = run_cli("--plugin-modules", plugin, "--file", str(script), env=ENV,
                     cwd=str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "a cpu offline=True / a cpu offline=False"
    bad = write(tmp_path / "bad.dgen", "\\prompt_upscale -p a --setp 1x\n")
    result = run_cli("--plugin-modules", plugin, "--file", str(bad), env=ENV)
    assert "--setp '1x' is not a valid variable name" in error_line(result)
    usage = write(tmp_path / "usage.dgen", "\\prompt_upscale -u shout\n")
    result = run_cli("--plugin-modules", plugin, "--file", str(usage), env=ENV)
    assert "\\prompt_upscale: invalid arguments" in error_line(result)
    assert "the following arguments are required: -p/--prompts" in result.stderr
