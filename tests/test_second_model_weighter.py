"""``-pw2`` / ``--second-model-prompt-weighter``: the prompt weighter of the SDXL refiner and
the Stable Cascade decoder, on tiny models through the command line.

Without ``-pw2`` the second model takes the job's weighter (``--prompt-weighter``), as the
manual says; with it, its own. Each check compares rendered pixels: a weight in the second
model's prompt must change the picture only when a weighter reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .support import render_ok as ok
from .support import render_quick as render


@pytest.fixture(scope="session")
def cascade(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared tiny Stable Cascade recipe (tests/tiny_s_cascade.py)."""
    from .tiny_s_cascade import build_decoder, build_prior

    root = tmp_path_factory.mktemp("s-cascade")
    return {"prior": build_prior(root / "prior"), "decoder": build_decoder(root / "decoder")}


def pixels(folder: Path) -> np.ndarray:
    [image] = sorted(folder.glob("*.png"))
    with Image.open(image) as opened:
        return np.asarray(opened.convert("RGB")).astype(int)


def refiner_args(refiner: Path, *args: str) -> tuple[str, ...]:
    return ("--model-type", "sdxl", "--sdxl-refiner", str(refiner), "--output-size", "64",
            "--seeds", "1", "--prompts", "a red circle; blurry", *args)


def cascade_args(models: dict[str, Path], *args: str) -> tuple[str, ...]:
    return ("--model-type", "s-cascade", "--s-cascade-decoder", str(models["decoder"]),
            "--seeds", "1", "--output-size", "128", "--prompts", "a red circle; blurry", *args)


WEIGHTED = ("--second-model-prompts", "a (red)1.8 circle; blurry")


def test_refiner_weighter_changes_the_refined_image_and_replays(
        tiny_sdxl: Path, tiny_sdxl_refiner: Path, tmp_path: Path) -> None:
    # the weight is in the refiner's prompt only: the main model renders the same
    ok(tiny_sdxl, tmp_path / "text", *refiner_args(tiny_sdxl_refiner, *WEIGHTED))
    ok(tiny_sdxl, tmp_path / "weighed", *refiner_args(tiny_sdxl_refiner, *WEIGHTED,
                                                      "-pw2", "compel", "--output-configs"))
    weighed = pixels(tmp_path / "weighed")
    assert not np.array_equal(weighed, pixels(tmp_path / "text"))
    [config] = (tmp_path / "weighed").glob("*.dgen")
    assert "--second-model-prompt-weighter compel" in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(weighed, pixels(tmp_path / "again"))


def test_refiner_takes_the_main_weighter_unless_told(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                      tmp_path: Path) -> None:
    main = ("--prompt-weighter", "compel")
    ok(tiny_sdxl, tmp_path / "default", *refiner_args(tiny_sdxl_refiner, *WEIGHTED, *main))
    ok(tiny_sdxl, tmp_path / "same", *refiner_args(tiny_sdxl_refiner, *WEIGHTED, *main,
                                                   "-pw2", "compel"))
    # sd-embed reads "(red)1.8" as the word red in brackets, x1.1, and "1.8" as text
    ok(tiny_sdxl, tmp_path / "other", *refiner_args(tiny_sdxl_refiner, *WEIGHTED, *main,
                                                    "-pw2", "sd-embed"))
    default = pixels(tmp_path / "default")
    assert np.array_equal(default, pixels(tmp_path / "same"))
    assert not np.array_equal(default, pixels(tmp_path / "other"))


def test_refiner_second_prompts_ignored_by_compel_with_one_warning(
        tiny_sdxl: Path, tiny_sdxl_refiner: Path, tmp_path: Path) -> None:
    result = ok(tiny_sdxl, tmp_path / "warned", *refiner_args(
        tiny_sdxl_refiner, "-pw2", "compel", "--seeds", "1", "2",
        "--second-model-second-prompts", "a blue square"))
    message = "--second-model-second-prompts is ignored"
    assert result.stderr.count(message) == 1  # once for the invocation, not per job
    ok(tiny_sdxl, tmp_path / "plain", *refiner_args(tiny_sdxl_refiner, "-pw2", "compel",
                                                    "--seeds", "1", "2"))
    for name in ("s_1_g_5-0_i_2_hnf_0-8_step_1.png", "s_2_g_5-0_i_2_hnf_0-8_step_2.png"):
        with Image.open(tmp_path / "warned" / name) as warned, \
                Image.open(tmp_path / "plain" / name) as plain:
            assert np.array_equal(np.asarray(warned), np.asarray(plain))


def test_decoder_weighter_changes_the_picture_and_replays(cascade: dict[str, Path],
                                                          tmp_path: Path) -> None:
    ok(cascade["prior"], tmp_path / "text", *cascade_args(cascade, *WEIGHTED))
    ok(cascade["prior"], tmp_path / "weighed", *cascade_args(
        cascade, *WEIGHTED, "--second-model-prompt-weighter", "compel;syntax=compel",
        "--output-configs"))
    weighed = pixels(tmp_path / "weighed")
    assert not np.array_equal(weighed, pixels(tmp_path / "text"))
    [config] = (tmp_path / "weighed").glob("*.dgen")
    assert "--second-model-prompt-weighter 'compel;syntax=compel'" in config.read_text() or \
        '--second-model-prompt-weighter "compel;syntax=compel"' in config.read_text()
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(weighed, pixels(tmp_path / "again"))


@pytest.mark.parametrize(("args", "message"), [
    (("-pw2", "compel;syntax=a1111"), "a1111"),
    (("-pw2", "nosuchweighter"), "nosuchweighter"),
])
def test_bad_weighter_uris_are_named(tiny_sdxl: Path, tiny_sdxl_refiner: Path, tmp_path: Path,
                                     args: tuple[str, ...], message: str) -> None:
    result = render(tiny_sdxl, tmp_path, *refiner_args(tiny_sdxl_refiner, *args))
    assert result.exit_code == 1
    assert "--second-model-prompt-weighter (the refiner's prompt weighter)" in result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_needs_a_second_model(tiny_sdxl: Path, tmp_path: Path) -> None:
    result = render(tiny_sdxl, tmp_path, "--model-type", "sdxl", "-pw2", "compel")
    assert result.exit_code == 1
    assert "--sdxl-refiner" in result.stderr and "Traceback" not in result.stderr


def test_listed_in_help() -> None:
    result = run_cli("--help", env=ENV)
    assert result.exit_code == 0
    assert "-pw2 PROMPT_WEIGHTER_URI, --second-model-prompt-weighter" in result.stdout
