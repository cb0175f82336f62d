"""Embedded prompt arguments: ``<name: value>`` in a prompt sets a kernel value or a
plugin's option for that prompt's jobs only; the grid tries that one value there, written
configs reproduce the job, and a name a prompt may not set is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY, names

MODEL = "embedded:shapes"


def _run(tmp_path: Path, *arguments: str):
    return run_cli(MODEL, "--seeds", "1", "--output-size", "64", "--inference-steps", "2",
                   "--output-path", str(tmp_path), *arguments, env=BUILTIN_ONLY)


def _jobs(tmp_path: Path, *arguments: str) -> list[str]:
    result = _run(tmp_path, "--dry-run", *arguments)
    assert result.exit_code == 0, result.stderr
    return [line.split(": ", 1)[1] for line in result.stdout.splitlines()
            if line.startswith("job ")]


def test_a_prompt_sets_a_value_for_its_own_jobs_only(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, "--prompts", "a red circle",
                 "<inference-steps: 3> <seed: 7> a blue square; dark",
                 "--inference-steps", "2", "4", "--guidance-scales", "4", "6")
    assert jobs == [
        "prompt='a red circle' seed=1 steps=2 guidance=4.0 size=64x64",
        "prompt='a red circle' seed=1 steps=2 guidance=6.0 size=64x64",
        "prompt='a red circle' seed=1 steps=4 guidance=4.0 size=64x64",
        "prompt='a red circle' seed=1 steps=4 guidance=6.0 size=64x64",
        "prompt='a blue square; dark' seed=7 steps=3 guidance=4.0 size=64x64",
        "prompt='a blue square; dark' seed=7 steps=3 guidance=6.0 size=64x64",
    ]
    # a plugin's option (declared with a prompt_argument name) replaces its axis too
    jobs = _jobs(tmp_path, "--prompts", "<clip-skip: 1> <guidance-rescale: 0.5> a", "b",
                 "--clip-skips", "0", "2")
    assert jobs == [
        "prompt='a' seed=1 steps=2 guidance=5.0 clip-skips=1 guidance-rescales=0.5 size=64x64",
        "prompt='b' seed=1 steps=2 guidance=5.0 clip-skips=0 size=64x64",
        "prompt='b' seed=1 steps=2 guidance=5.0 clip-skips=2 size=64x64"]


def test_embedded_values_render_as_the_options_do(tmp_path: Path) -> None:
    embedded = _run(tmp_path / "embedded", "--output-configs", "--prompts",
                    "<inference-steps: 3> <clip-skip: 1> <guidance-scale: 7> a red circle")
    assert embedded.exit_code == 0, embedded.stderr
    options = _run(tmp_path / "options", "--prompts", "a red circle", "--inference-steps", "3",
                   "--clip-skips", "1", "--guidance-scales", "7")
    assert options.exit_code == 0, options.stderr
    [image] = (tmp_path / "embedded").glob("*.png")
    [same] = (tmp_path / "options").glob("*.png")
    assert image.name == same.name
    assert image.read_bytes() == same.read_bytes()
    config = image.with_suffix(".dgen").read_text()
    assert "--prompts 'a red circle'" in config and "--inference-steps 3" in config
    assert "--clip-skips 1" in config and "<" not in config
    replay = run_cli("--file", str(image.with_suffix(".dgen")), "--output-path",
                     str(tmp_path / "replay"), env=BUILTIN_ONLY)
    assert replay.exit_code == 0, replay.stderr
    assert (tmp_path / "replay" / image.name).read_bytes() == image.read_bytes()


def test_size_batch_and_weighter_per_prompt(tmp_path: Path) -> None:
    result = _run(tmp_path, "--output-configs", "--prompts", "a red circle",
                  "<width: 96> <height: 32> <batch-size: 2> <weighter: sd-embed> a (blue:1.2) "
                  "square")
    assert result.exit_code == 0, result.stderr
    files = names(tmp_path)
    sizes = sorted(Image.open(tmp_path / name).size for name in files if name.endswith(".png"))
    assert sizes == [(64, 64), (96, 32), (96, 32)]
    configs = [(tmp_path / name).read_text() for name in files if name.endswith(".dgen")]
    weighted = [text for text in configs if "--prompt-weighter sd-embed" in text]
    assert len(weighted) == 2 and all("--batch-size 2" in text and "--output-size 96x32" in text
                                      for text in weighted)
    assert sum("--prompt-weighter" in text for text in configs) == 2
    # the weighter of the prompt is the one --prompt-weighter would use: same pixels
    option = _run(tmp_path / "option", "--prompts", "a (blue:1.2) square", "--output-size",
                  "96x32", "--batch-size", "2", "--prompt-weighter", "sd-embed")
    assert option.exit_code == 0, option.stderr
    for name in names(tmp_path / "option"):
        embedded_name = name.replace("step_1", "step_2")
        assert (tmp_path / "option" / name).read_bytes() == (
            tmp_path / embedded_name).read_bytes(), name


@pytest.mark.parametrize(("prompt", "extra", "message"), [
    ("<colour: red> a", [], "'<colour: red> a': <colour: red>: a prompt cannot set 'colour'; "
                            "it may set batch-size, clip-skip"),
    ("<prompts: b> a", [], "a prompt cannot set 'prompts'"),
    ("<image-seeds: x.png> a", [], "a prompt cannot set 'image-seeds'"),
    ("<sada-sx: 2> a", [], "this version does not implement the prompt argument 'sada-sx'"),
    ("<inference-steps: many> a", [],
     "<inference-steps: many>: value 'many' is not a whole number"),
    ("<clip-skip: -1> a", [], "<clip-skip: -1>: value '-1' must be at least 0"),
    ("<image-seed-strength: 0.5> a", [], "<image-seed-strength> needs --image-seeds"),
    ("<width: 65> a", [], "<width: 65>: '65' is not a multiple of 8"),
    ("<sdxl-high-noise-fraction: 0.5> a", [], "--sdxl-high-noise-fractions does not apply to "
                                              "--model-type sd"),
    ("<sdxl-high-noise-fraction: 0.5> a", ["--model-type", "sdxl"],
     "--sdxl-high-noise-fractions needs --sdxl-refiner"),
    ("<batch-size: 5> a", ["--batch-grid-size", "2x2"], "cannot hold a batch of 5"),
])
def test_what_a_prompt_may_not_set_is_one_clear_error(tmp_path: Path, prompt: str,
                                                      extra: list[str], message: str) -> None:
    result = _run(tmp_path, "--dry-run", "--prompts", prompt, *extra)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_other_prompt_options_hold_no_arguments_but_upscalers(tmp_path: Path) -> None:
    result = _run(tmp_path, "--dry-run", "--model-type", "sdxl", "--prompts", "a",
                  "--second-prompts", "<seed: 3> b")
    assert result.exit_code == 1
    assert "--second-prompts '<seed: 3> b': <seed: 3>: only --prompts may set options" in (
        result.stderr)
