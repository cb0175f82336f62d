"""The dynamicprompts prompt upscaler: combinatorial order, random draws, wildcards,
parts, argument errors, its help listing and a render through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugin_api.values import Prompt
from dgenerate.plugins_builtin.prompt_upscalers.dynamicprompts.upscaler import (
    DynamicPromptsUpscaler,
)

from .support import BUILTIN_ONLY as ENV


def texts(prompts: list[Prompt]) -> list[tuple[str, str | None]]:
    return [(prompt.positive, prompt.negative) for prompt in prompts]


def test_combinatorial_expansion_lists_every_combination_in_order() -> None:
    upscaler = DynamicPromptsUpscaler()
    result = upscaler.upscale(Prompt("a {red|blue} {ball|cube}"))
    assert [prompt.positive for prompt in result] == [
        "a red ball", "a red cube", "a blue ball", "a blue cube"]
    assert upscaler.upscale(Prompt("plain text")) == [Prompt("plain text")]


def test_both_parts_expand_into_every_pairing() -> None:
    result = DynamicPromptsUpscaler().upscale(Prompt("a {red|blue} ball", "{ugly|blurry}"))
    assert texts(result) == [("a red ball", "ugly"), ("a red ball", "blurry"),
                             ("a blue ball", "ugly"), ("a blue ball", "blurry")]


def test_part_positive_leaves_the_negative_alone() -> None:
    result = DynamicPromptsUpscaler(part="positive").upscale(
        Prompt("a {red|blue} ball", "{ugly|blurry}"))
    assert texts(result) == [("a red ball", "{ugly|blurry}"), ("a blue ball", "{ugly|blurry}")]
    result = DynamicPromptsUpscaler(part="negative").upscale(
        Prompt("a {red|blue} ball", "{ugly|blurry}"))
    assert texts(result) == [("a {red|blue} ball", "ugly"), ("a {red|blue} ball", "blurry")]


def test_random_draws_are_reproducible_with_a_seed() -> None:
    template = Prompt("a {red|blue|green|pink|black|white} {ball|cube|cone|ring}")
    first = DynamicPromptsUpscaler(random=True, seed=7, variations=6).upscale(template)
    again = DynamicPromptsUpscaler(random=True, seed=7, variations=6).upscale(template)
    other = DynamicPromptsUpscaler(random=True, seed=8, variations=6).upscale(template)
    assert len(first) == 6 and first == again and first != other
    assert all("{" not in prompt.positive for prompt in first)
    single = DynamicPromptsUpscaler(random=True, seed=7).upscale(template)
    assert len(single) == 1


def test_variations_without_random_is_refused() -> None:
    with pytest.raises(PluginArgumentError, match="variations=3 needs random=true"):
        DynamicPromptsUpscaler(variations=3)
    with pytest.raises(PluginArgumentError, match="variations=0"):
        DynamicPromptsUpscaler(random=True, variations=0)
    with pytest.raises(PluginArgumentError, match="part='middle'"):
        DynamicPromptsUpscaler(part="middle")  # type: ignore[arg-type]


def test_wildcards_come_from_the_folder(tmp_path: Path) -> None:
    (tmp_path / "colors.txt").write_text("red\nblue\n# a comment line\n")
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "round.txt").write_text("ball\nring\n")
    upscaler = DynamicPromptsUpscaler(wildcards=str(tmp_path))
    result = [prompt.positive for prompt in upscaler.upscale(
        Prompt("a __colors__ __shapes/round__"))]
    assert sorted(result) == ["a blue ball", "a blue ring", "a red ball", "a red ring"]
    with pytest.raises(DgenerateError, match="__sizes__"):
        upscaler.upscale(Prompt("a __sizes__ ball"))


def test_missing_wildcards_folder_and_unknown_wildcard_are_clear_errors(
        tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DgenerateError, match="is not a folder") as error:
        DynamicPromptsUpscaler(wildcards=str(missing))
    assert str(missing) in str(error.value)
    with pytest.raises(DgenerateError, match="no wildcards folder"):
        DynamicPromptsUpscaler().upscale(Prompt("a __colors__ ball"))


def test_too_many_combinations_are_refused() -> None:
    choices = "{" + "|".join(str(number) for number in range(40)) + "}"
    with pytest.raises(DgenerateError, match="more than 1000 prompts"):
        DynamicPromptsUpscaler().upscale(Prompt(f"{choices} {choices}"))


def test_help_lists_every_argument_without_heavy_imports() -> None:
    result = run_cli("--prompt-upscaler-help", "dynamicprompts", env=ENV)
    assert result.exit_code == 0, result.stderr
    for line in ('part: "both" | "positive" | "negative" = "both"', "random: bool = False",
                 "seed: int | None = None", "variations: int | None = None",
                 "wildcards: str | None = None"):
        assert line in result.stdout
    assert "owner" not in result.stdout and "context" not in result.stdout
    assert_import_light(["--prompt-upscaler-help", "dynamicprompts"],
                        forbidden=(*HEAVY_MODULES, "dynamicprompts"),
                        env={"DGENERATE_DISABLE_PLUGINS": ""})


def test_the_command_line_renders_every_expansion(tmp_path: Path) -> None:
    result = run_cli("embedded:shapes", "--prompts", "a {red|blue} ball; {ugly|blurry}",
                     "--prompt-upscaler", "dynamicprompts;part=negative",
                     "--inference-steps", "2", "--seeds", "1", "--output-configs",
                     "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code == 0, result.stderr
    configs = sorted(tmp_path.glob("*.dgen"))
    assert len(configs) == 2 and len(list(tmp_path.glob("*.png"))) == 2
    written = [config.read_text() for config in configs]
    # the configs reproduce the expanded prompts (the positive was left alone; braces
    # are written escaped for the config template language)
    assert "--prompts 'a " in written[0] and "ball; ugly'" in written[0]
    assert "--prompts 'a " in written[1] and "ball; blurry'" in written[1]


def test_a_bad_argument_on_the_command_line_is_one_clear_error(tmp_path: Path) -> None:
    result = run_cli("embedded:shapes", "--prompts", "a {red|blue} ball",
                     "--prompt-upscaler", "dynamicprompts;variations=2",
                     "--inference-steps", "2", "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code != 0
    assert "variations=2 needs random=true" in result.stderr
    assert "Traceback" not in result.stderr
