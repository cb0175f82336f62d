"""``--freeu-params``: the FreeU pipeline extension, on tiny random-weight UNet models."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli import commands
from dgenerate.kernel.config.runner import ScriptSource
from dgenerate.kernel.config.session import make_runner
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render

FREEU = "0.9,0.2,1.1,1.2"
NAME = "s_1_g_5-0_i_2_step_1.png"  # FreeU adds no file-name token


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def test_freeu_changes_the_image_and_not_the_name(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "plain", "--seeds", "1")
    ok(tiny_sd, tmp_path / "freeu", "--seeds", "1", "-fu", FREEU)
    assert names(tmp_path / "freeu") == [NAME]
    assert not np.array_equal(pixels(tmp_path / "plain" / NAME),
                              pixels(tmp_path / "freeu" / NAME))


def test_every_value_is_tried(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "both", "--seeds", "1", "--freeu-params", FREEU, "1.1,0.6,1.3,1.4")
    ok(tiny_sd, tmp_path / "second", "--seeds", "1", "--freeu-params", "1.1,0.6,1.3,1.4")
    assert names(tmp_path / "both") == [NAME, "s_1_g_5-0_i_2_step_2.png"]
    first = pixels(tmp_path / "both" / NAME)
    second = pixels(tmp_path / "both" / "s_1_g_5-0_i_2_step_2.png")
    assert not np.array_equal(first, second)
    assert np.array_equal(second, pixels(tmp_path / "second" / NAME))


@pytest.mark.usefixtures("restore_process_state")
def test_freeu_is_removed_from_the_cached_pipeline(tiny_sd: Path, tmp_path: Path) -> None:
    """One script renders with FreeU, then without it on the same cached pipeline: the second
    image equals one from a freshly loaded model, bit for bit."""
    runner = make_runner(KernelContext(isolated_plugin_manager()), commands)
    runner.run(textwrap.dedent(f"""
        {tiny_sd} --inference-steps 2 --seeds 1 --freeu-params {FREEU} \\
            --output-path {tmp_path / "with"}
        \\setp used last_freeu_params
        {tiny_sd} --inference-steps 2 --seeds 1 --output-path {tmp_path / "after"}
        """), ScriptSource("freeu.dgen"))
    assert runner.variables["used"] == [(0.9, 0.2, 1.1, 1.2)]
    assert runner.variables["last_freeu_params"] == []
    pipelines = runner.context.caches.cache("pipeline")
    assert pipelines.misses == 1 and pipelines.hits >= 1  # the FreeU pipeline was reused
    ok(tiny_sd, tmp_path / "fresh", "--seeds", "1")
    after = pixels(tmp_path / "after" / NAME)
    assert np.array_equal(after, pixels(tmp_path / "fresh" / NAME))
    assert not np.array_equal(after, pixels(tmp_path / "with" / NAME))


def test_written_configs_reproduce_freeu(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "first", "--seeds", "1", "--freeu-params", FREEU,
       "--output-configs")
    config = (tmp_path / "first" / NAME).with_suffix(".dgen")
    assert f"--freeu-params {FREEU}" in config.read_text().splitlines()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(pixels(tmp_path / "first" / NAME), pixels(tmp_path / "again" / NAME))


@pytest.mark.parametrize("family", ["sdxl", "kolors"])
def test_freeu_on_the_other_unet_families(family: str, request: pytest.FixtureRequest,
                                          tmp_path: Path) -> None:
    model = request.getfixturevalue(f"tiny_{family}")
    common = ("--model-type", family, "--seeds", "1", "--output-size", "64")
    ok(model, tmp_path / "plain", *common)
    ok(model, tmp_path / "freeu", *common, "--freeu-params", FREEU)
    assert not np.array_equal(pixels(tmp_path / "plain" / NAME),
                              pixels(tmp_path / "freeu" / NAME))


@pytest.mark.parametrize(("value", "message"), [
    ("0.9,0.2,1.1", "--freeu-params: '0.9,0.2,1.1' has 3 values; FreeU takes four numbers "
                    "s1,s2,b1,b2"),
    ("0.9,0.2,1.1,1.2,1", "has 5 values"),
    ("0.9,0.2,x,1.2", "--freeu-params: '0.9,0.2,x,1.2': b1 'x' is not a number"),
    ("0.9,,1.1,1.2", "s2 '' is not a number"),
    ("0.9,0.2,1.1,inf", "b2 'inf' is not a finite number"),
    ("nan,0.2,1.1,1.2", "s1 'nan' is not a finite number"),
    ("", "has 1 values"),
])
def test_bad_values_are_refused_before_loading(tmp_path: Path, value: str, message: str) -> None:
    result = run_cli("./no/such/model", "--output-path", str(tmp_path), "--freeu-params",
                     value, env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "no/such/model" not in result.stderr


@pytest.mark.parametrize("model_type", ["pix2pix", "upscaler-x4"])
def test_freeu_does_not_apply_to_other_model_types(tmp_path: Path, model_type: str) -> None:
    result = run_cli("./no/such/model", "--model-type", model_type, "--output-path",
                     str(tmp_path), "--freeu-params", FREEU, env=ENV)
    assert result.exit_code == 1
    assert (f"--freeu-params does not apply to --model-type {model_type}; it applies to sd, "
            "sdxl, kolors") in result.stderr


def test_dry_run_and_help(tmp_path: Path, tiny_sd: Path) -> None:
    dry = render(tiny_sd, tmp_path, "--dry-run", "--seeds", "1", "--freeu-params", FREEU)
    assert dry.exit_code == 0, dry.stderr
    assert f"freeu-params={FREEU}" in dry.stdout
    assert f"    {tmp_path / NAME}" in dry.stdout.splitlines()
    listing = run_cli("--help", env=ENV)
    assert "\nFreeU:\n  -fu CSV_FLOAT [CSV_FLOAT ...], --freeu-params CSV_FLOAT" in (
        listing.stdout)
    section = listing.stdout.split("\nFreeU:\n")[1].split("\n\n")[0]  # up to the next group
    assert " ".join(section.split()).endswith("(model types: sd, sdxl, kolors)")
