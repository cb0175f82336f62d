"""Prompt upscalers through the kernel: --prompt-upscaler chains, <upscaler: URI> in a
prompt, the upscalers of other prompt options, expansions multiplying the jobs in order,
and what written configs and last_prompts hold. Toy upscalers keep it about the kernel."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dgenerate.plugin_api.prompts import (
    PartwiseUpscaler,
    join_prompt_arguments,
    parse_prompt,
    split_prompt_arguments,
    upscale_prompts,
)
from dgenerate.plugin_api.testing import run_cli
from dgenerate.plugin_api.values import Prompt

from .support import BUILTIN_ONLY

TOYS = '''
import re

from dgenerate.plugin_api import PromptUpscaler, PromptUpscalerSpec, hookimpl
from dgenerate.plugin_api.prompts import PartwiseUpscaler
from dgenerate.plugin_api.values import Prompt

CREATED = []


class Braces(PartwiseUpscaler):
    """{a|b} -> one text per choice (the first group only)."""

    pairs = False

    def __init__(self, part="both"):
        super().__init__(part, owner="braces")
        CREATED.append(self)

    def expand_texts(self, texts):
        out = []
        for text in texts:
            match = re.search(r"\\{([^}]*)\\}", text)
            out.append([text[:match.start()] + choice + text[match.end():]
                        for choice in match.group(1).split("|")] if match else [text])
        return out


class Suffix(PromptUpscaler):
    def __init__(self, word: str = "bright", device: str = "cpu"):
        self.word = word
        self.device = device

    def upscale(self, prompt):
        return Prompt(f"{prompt.positive} {self.word}", prompt.negative)


@hookimpl
def dgenerate_prompt_upscalers():
    yield PromptUpscalerSpec(name="braces", summary="Expand {a|b}.", target=":Braces")
    yield PromptUpscalerSpec(name="suffix", summary="Append a word.", target=":Suffix")
'''


@pytest.fixture(scope="module")
def toys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plugin = tmp_path_factory.mktemp("upscaler_toys") / "upscaler_toys.py"
    plugin.write_text(textwrap.dedent(TOYS))
    return plugin


def _dry(toys: Path, tmp_path: Path, *arguments: str) -> list[str]:
    result = run_cli("--plugin-modules", str(toys), "embedded:shapes", "--seeds", "1",
                     "--output-path", str(tmp_path), "--dry-run", *arguments, env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    return [line.split("prompt=", 1)[1].split(" seed=")[0] for line in result.stdout.splitlines()
            if line.startswith("job ")]


def test_a_chain_expands_in_order_and_multiplies_the_jobs(toys: Path, tmp_path: Path) -> None:
    prompts = _dry(toys, tmp_path, "--prompts", "a {red|blue} circle", "a square",
                   "--prompt-upscaler", "braces", "suffix;word=big")
    assert prompts == ["'a red circle big'", "'a blue circle big'", "'a square big'"]


def test_combinatorial_parts_multiply(toys: Path, tmp_path: Path) -> None:
    prompts = _dry(toys, tmp_path, "--prompts", "a {red|blue} circle; {dark|dim}",
                   "-pu", "braces")
    assert prompts == ["'a red circle; dark'", "'a red circle; dim'", "'a blue circle; dark'",
                       "'a blue circle; dim'"]
    assert _dry(toys, tmp_path, "--prompts", "a {red|blue} circle; {dark|dim}",
                "-pu", "braces;part=negative") == ["'a {red|blue} circle; dark'",
                                                   "'a {red|blue} circle; dim'"]


def test_a_prompt_chooses_its_own_chain(toys: Path, tmp_path: Path) -> None:
    prompts = _dry(toys, tmp_path, "--prompts", "<upscaler: braces> <upscaler: suffix;word=x> "
                   "a {red|blue} circle", "a {green|gray} square", "--prompt-upscaler", "suffix")
    assert prompts == ["'a red circle x'", "'a blue circle x'", "'a {green|gray} square bright'"]


def test_other_arguments_stay_with_every_expansion(toys: Path, tmp_path: Path) -> None:
    result = run_cli("--plugin-modules", str(toys), "embedded:shapes", "--seeds", "1",
                     "--output-path", str(tmp_path), "--dry-run", "--inference-steps", "9",
                     "--prompts", "<inference-steps: 3> <upscaler: braces> a {red|blue} circle",
                     env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    jobs = [line for line in result.stdout.splitlines() if line.startswith("job ")]
    assert len(jobs) == 2 and all("steps=3" in job for job in jobs), jobs


def test_renders_configs_and_last_prompts_hold_the_expansions(toys: Path,
                                                               tmp_path: Path) -> None:
    script = tmp_path / "script.dgen"
    out = tmp_path / "out"
    script.write_text(textwrap.dedent(f"""\
        \\import_plugins {toys}
        embedded:shapes --seeds 1 --inference-steps 2 \\
            --output-size 64 --output-path {out} --output-configs \\
            --prompts "a {{red|blue}} circle" --prompt-upscaler braces
        \\print {{{{ last_prompts | map('string') | list }}}}
        \\print uris: {{{{ last_prompt_upscaler_uri }}}} {{{{ last_second_prompt_upscaler_uri }}}}
        """))
    result = run_cli("--file", str(script), env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    assert "['a red circle', 'a blue circle']" in result.stdout
    assert "uris: ['braces'] None" in result.stdout  # dgenerate 5.0.0's variable names
    configs = sorted(out.glob("*.dgen"))
    assert len(configs) == 2
    texts = [config.read_text() for config in configs]
    assert any("--prompts 'a red circle'" in text for text in texts), texts
    assert not any("upscaler" in text for text in texts), texts
    # replaying a written config renders the same image without upscaling again
    replay = run_cli("--file", str(configs[0]), "--output-path", str(tmp_path / "again"),
                     env=BUILTIN_ONLY)
    assert replay.exit_code == 0, replay.stderr
    first = next(out.glob(configs[0].stem + ".png"))
    assert (tmp_path / "again" / first.name).read_bytes() == first.read_bytes()


def test_second_prompts_have_their_own_upscalers(toys: Path, tmp_path: Path) -> None:
    def jobs(*arguments: str) -> list[str]:
        result = run_cli("--plugin-modules", str(toys), "embedded:shapes", "--model-type",
                         "sdxl", "--seeds", "1", "--output-path", str(tmp_path), "--dry-run",
                         *arguments, env=BUILTIN_ONLY)
        assert result.exit_code == 0, result.stderr
        return [line.split(" seed=")[0].split("prompt=")[1] + " |" +
                line.split("second-prompts=")[1].split(" size=")[0]
                for line in result.stdout.splitlines() if line.startswith("job ")]

    assert jobs("--prompts", "a {1|2}", "--second-prompts", "b {x|y}",
                "--second-prompt-upscaler", "braces") == ["'a {1|2}' |b x", "'a {1|2}' |b y"]
    # --prompt-upscaler is the default of the other prompt options
    assert jobs("--prompts", "a {1|2}", "--second-prompts", "b {x|y}", "-pu", "braces") == [
        "'a 1' |b x", "'a 1' |b y", "'a 2' |b x", "'a 2' |b y"]
    assert jobs("--prompts", "a", "--second-prompts", "<upscaler: suffix> b") == [
        "'a' |b bright"]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--prompt-upscaler", "nothing"], "nothing"),
    (["--prompt-upscaler", "braces;part=middle"], "part='middle' is not one of"),
    (["--prompt-upscaler", "suffix;colour=1"], "colour"),
    (["--prompts", "<upscaler: > a"], "'<upscaler: > a': <upscaler: >: URI '' is empty"),
])
def test_bad_upscalers_are_one_clear_error(toys: Path, tmp_path: Path, arguments: list[str],
                                           message: str) -> None:
    result = run_cli("--plugin-modules", str(toys), "embedded:shapes", "--seeds", "1",
                     "--output-path", str(tmp_path), "--dry-run", *arguments, env=BUILTIN_ONLY)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


# ------------------------------------------------------------------ the toolkit functions


def test_arguments_are_taken_out_wherever_they_are() -> None:
    text, arguments = split_prompt_arguments('a <seed: 3> cat <upscaler: m;p="a > b">dog')
    assert text == "a cat dog"
    assert [(a.name, a.value) for a in arguments] == [("seed", "3"), ("upscaler", 'm;p="a > b"')]
    assert split_prompt_arguments("a < b and c>d") == ("a < b and c>d", [])
    assert split_prompt_arguments("<Inference_Steps: 5>x")[1][0].name == "inference-steps"
    # a ; inside an argument does not split the prompt
    prompt = parse_prompt("a cat; <weighter: compel;syntax=sdwui> blurry")
    assert prompt == Prompt("<weighter: compel;syntax=sdwui> a cat", "blurry")
    assert join_prompt_arguments(split_prompt_arguments(prompt.positive)[1], "x") == (
        "<weighter: compel;syntax=sdwui> x")


class _Double(PartwiseUpscaler):
    def __init__(self, pairs: bool) -> None:
        super().__init__("both")
        self.pairs = pairs
        self.batches: list[list[str]] = []

    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        self.batches.append(texts)
        return [[text + "1", text + "2"] for text in texts]


def test_partwise_pairs_or_combines_and_batches_each_text_once() -> None:
    paired = _Double(pairs=True)
    assert upscale_prompts([Prompt("a", "n"), Prompt("a")], (), lambda uri: paired) == [
        Prompt("a", "n"), Prompt("a")]  # no chain: unchanged
    result = upscale_prompts([Prompt("a", "n"), Prompt("a")], ("x",), lambda uri: paired)
    assert result == [Prompt("a1", "n1"), Prompt("a2", "n2"), Prompt("a1"), Prompt("a2")]
    assert paired.batches == [["a", "n"]]
    combined = _Double(pairs=False)
    assert upscale_prompts([Prompt("a", "n")], ("x",), lambda uri: combined) == [
        Prompt("a1", "n1"), Prompt("a1", "n2"), Prompt("a2", "n1"), Prompt("a2", "n2")]
