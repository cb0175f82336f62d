"""The model-type conformance suite (``plugin_api.testing.check_model_type``): every builtin
family passes it on its tiny model, and it fails with clear messages when a model type
breaks the render contract."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from dgenerate.plugin_api.testing import check_model_type

# One row per family: the model type, the fixture of its tiny model (or a model path), and
# what check_model_type needs to know about it. Axes are declared options with file-name
# tokens, so the suite checks that they expand the grid and name the files.
FAMILIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sd": ("sd", "tiny_sd", {"axes": {"--clip-skips": ["0", "1"]}}),
    "sd-embedded": ("sd", "embedded:shapes", {}),
    "sdxl": ("sdxl", "tiny_sdxl", {"axes": {"--clip-skips": ["0", "1"]}}),
    "kolors": ("kolors", "tiny_kolors", {}),
    "pix2pix": ("pix2pix", "tiny_pix2pix", {"axes": {"--image-guidance-scales": ["1.5", "2"]}}),
    "sdxl-pix2pix": ("sdxl-pix2pix", "tiny_sdxl_pix2pix",
                     {"axes": {"--image-guidance-scales": ["1.5", "2"]}}),
    # the x4 upscaler's tiny model takes 16 px inputs and makes 64 px images
    "upscaler-x4": ("upscaler-x4", "tiny_upscaler_x4",
                    {"input_size": 16, "scale": 4,
                     "axes": {"--upscaler-noise-levels": ["10", "20"]}}),
    "upscaler-x2": ("upscaler-x2", "tiny_upscaler_x2", {"input_size": 64, "scale": 2}),
}


@pytest.mark.parametrize("row", sorted(FAMILIES))
def test_builtin_family_conforms(row: str, request: pytest.FixtureRequest,
                                 tmp_path: Path) -> None:
    model_type, model, options = FAMILIES[row]
    path = model if ":" in model else request.getfixturevalue(model)
    report = check_model_type(model_type, path, tmp_path / "conformance", **options)
    assert report.modes and all(report.images[mode] for mode in report.modes)
    assert len(report.checks) == 4 * len(report.modes)


# ---------------------------------------------------------- the suite can fail

# A pure-Python model type (no torch): a solid color derived from the seed and its --tints
# axis, so the suite runs in a fraction of a second; BEHAVIOUR breaks it on purpose.
FAKE_FAMILY = '''
import random

from PIL import Image

from dgenerate.plugin_api import (Capabilities, DgenerateError, Mode, ModelType,
                                  ModelTypeSpec, OptionSpec, RenderOutput, Size, hookimpl)

BEHAVIOUR = "{behaviour}"


class Solid(ModelType):
    def default_size(self):
        return Size(16, 16)

    def check(self, request):
        if BEHAVIOUR == "opens-the-model":
            open(self.source.path).close()

    def render(self, job):
        if BEHAVIOUR == "random":
            tint = random.randrange(256)
        else:
            tint = job.values["tints"]
        width = job.width * (2 if BEHAVIOUR == "wrong-size" else 1)
        images = []
        for seed in job.seeds:
            color = (seed % 256, tint, 255 - tint)
            if job.mode is not Mode.TXT2IMG:
                color = job.images[0].convert("RGB").getpixel((0, 0))[:2] + (tint,)
            images.append(Image.new("RGB", (width, job.height), color))
        return RenderOutput(images)


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="solid", summary="One color per seed.", target=Solid,
        capabilities=Capabilities(modes={{Mode.TXT2IMG, Mode.IMG2IMG}}),
        options=(OptionSpec(flags=("--tints",), type=int, axis=True, default=(0,),
                            token="tint", position=450, help="Tints to try."),))
'''


def fake_family(folder: Path, behaviour: str = "") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"solid_{behaviour.replace('-', '_') or 'good'}.py"
    path.write_text(textwrap.dedent(FAKE_FAMILY.format(behaviour=behaviour)))
    return str(path)


def check_fake(tmp_path: Path, behaviour: str = "", **options: Any):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "weights").write_text("not really")
    return check_model_type("solid", model / "weights", tmp_path / "out",
                            plugins=[fake_family(tmp_path / "plugins", behaviour)],
                            size=16, input_size=16, **options)


def test_a_conforming_model_type_passes(tmp_path: Path) -> None:
    report = check_fake(tmp_path, axes={"--tints": ["10", "200"]})
    assert report.model_type == "solid" and report.modes == ("txt2img", "img2img")
    assert sorted(Path(path).name for path in report.images["txt2img"]) == [
        "s_7_g_5-0_i_2_tint_10_step_1.png", "s_7_g_5-0_i_2_tint_200_step_2.png"]
    assert sorted(Path(path).name for path in report.images["img2img"]) == [
        "s_7_st_0-8_g_5-0_i_2_tint_10_step_1.png", "s_7_st_0-8_g_5-0_i_2_tint_200_step_2.png"]
    assert "txt2img: --dry-run loads nothing and lists the same 2 file(s)" in report.checks


def test_defaults_of_declared_axes_name_the_files_too(tmp_path: Path) -> None:
    report = check_fake(tmp_path, modes=["txt2img"])
    assert [Path(path).name for path in report.images["txt2img"]] == [
        "s_7_g_5-0_i_2_tint_0_step_1.png"]


def test_a_model_type_that_is_not_deterministic_fails(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"(?s)model type 'solid', txt2img: running the "
                       r"config .* gave other pixels than s_7_g_5-0_i_2_tint_0_step_1\.png"):
        check_fake(tmp_path, "random")


def test_a_wrong_image_size_fails(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"txt2img: s_7_g_5-0_i_2_tint_0_step_1\.png is "
                                             r"32x16, expected 16x16"):
        check_fake(tmp_path, "wrong-size")


def test_a_dry_run_that_needs_the_model_fails(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"(?s)--dry-run with a model path that does not "
                       r"exist failed.*dgenerate said \(exit status 1\)"):
        check_fake(tmp_path, "opens-the-model")


def test_mistakes_in_the_call_are_explained(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"extra_args: --seeds is set by check_model_type; "
                                             r"use seed="):
        check_fake(tmp_path, extra_args=["--seeds", "3"])
    with pytest.raises(AssertionError, match=r"extra_args: --tints is an axis; give its values "
                                             r"in axes="):
        check_fake(tmp_path, extra_args=["--tints", "3"])
    with pytest.raises(AssertionError, match=r"axes: --nope is not a declared axis that applies "
                                             r"to model type 'solid' \(those are: --tints\)"):
        check_fake(tmp_path, axes={"--nope": ["1"]})
    with pytest.raises(AssertionError, match=r"model type 'no-such-type' is not registered"):
        check_model_type("no-such-type", tmp_path, tmp_path / "empty")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(AssertionError, match="is not empty: give a fresh folder"):
        check_model_type("sd", tmp_path, tmp_path / "used")
