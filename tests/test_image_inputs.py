"""Control and IP adapter images through --image-seeds, for sub-model kinds declaring an
``image_input``: the kernel matches counts, reads the short form as control images once a
kind taking them is given, prepares the images (resize, processors, frames) and hands
them to jobs. Toy kinds record what reaches the pipeline call."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from dgenerate.plugin_api.testing import run_cli

TOYS = '''
import os

from dgenerate.plugin_api import OptionSpec, SubModel, SubModelSpec, hookimpl


class Recorder(SubModel):
    """Records the job's control and adapter images; the pipeline stays as it is."""

    def load_key(self, values):
        return None

    def call_arguments(self, job, pipeline, values):
        with open(os.environ["TOY_LOG"], "a") as log:
            log.write(repr({
                "kind": self.slot, "mode": str(job.mode), "size": (job.width, job.height),
                "control": [(image.size, image.getpixel((0, 0))) for image in
                            job.control_images],
                "adapters": [[image.size for image in group] for group in job.adapter_images],
            }) + "\\n")
        return {}


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(name="toy-nets", slot="controlnet", summary="Toy control models.",
                       target=":Recorder", image_input="control",
                       options=(OptionSpec(flags=("--toy-nets",), several=True,
                                           help="Toy models taking a control image each."),))
    yield SubModelSpec(name="toy-adapters", slot="ip_adapter", summary="Toy adapters.",
                       target=":Recorder", image_input="adapter",
                       options=(OptionSpec(flags=("--toy-adapters",), several=True,
                                           help="Toy models taking adapter images each."),))
'''


@pytest.fixture(scope="module")
def toys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plugin = tmp_path_factory.mktemp("toys") / "toys.py"
    plugin.write_text(textwrap.dedent(TOYS))
    return plugin


def render(toys: Path, tmp_path: Path, *arguments: str) -> tuple[object, list[dict]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "calls.log"
    result = run_cli("--plugin-modules", str(toys), "embedded:shapes", "--prompts", "a circle",
                     "--seeds", "1", "--inference-steps", "1", "--output-path",
                     str(tmp_path / "out"), *arguments, env={"TOY_LOG": str(log)})
    calls = [ast.literal_eval(line) for line in log.read_text().splitlines()] if (
        log.exists()) else []
    return result, calls


def test_short_form_images_become_control_images(toys: Path, tmp_path: Path,
                                                 media: Path) -> None:
    result, calls = render(toys, tmp_path, "--toy-nets", "a", "b",
                           "--image-seeds", f"{media / 'dog-on-bench.png'}, "
                                            f"{media / 'horse1.jpg'};resize=64x48;aspect=false")
    assert result.exit_code == 0, result.stderr
    (call,) = calls
    assert call["mode"] == "txt2img" and call["size"] == (64, 48)
    assert [size for size, _ in call["control"]] == [(64, 48), (64, 48)]


def test_control_images_beside_an_img2img_image(toys: Path, tmp_path: Path,
                                                media: Path) -> None:
    horse, mask = media / "horse1.jpg", media / "horse1-mask.jpg"
    result, calls = render(toys, tmp_path, "--toy-nets", "a", "--output-size", "64",
                           "--image-seeds", f"{horse};mask={mask};control={horse}",
                           f"{horse};control={media / 'dog-on-bench.png'};resize=64x64;"
                           "aspect=false")
    assert result.exit_code == 0, result.stderr
    assert [(call["mode"], call["size"]) for call in calls] == [
        ("inpaint", (64, 32)), ("img2img", (64, 64))]
    assert [len(call["control"]) for call in calls] == [1, 1]
    assert calls[0]["control"][0][0] == (64, 32)


def test_control_image_processors_take_one_chain_per_image(toys: Path, tmp_path: Path,
                                                           media: Path) -> None:
    dog = media / "dog-on-bench.png"
    seeds = ("--image-seeds", f"{dog}, {dog}", "--output-size", "64")
    _, (plain,) = render(toys, tmp_path / "plain", "--toy-nets", "a", "b", *seeds)
    result, (inverted,) = render(toys, tmp_path / "inverted", "--toy-nets", "a", "b", *seeds,
                                 "--control-image-processors", "+", "invert")
    assert result.exit_code == 0, result.stderr
    assert inverted["control"][0] == plain["control"][0]
    assert inverted["control"][1][1] == tuple(255 - value for value in plain["control"][1][1])


def test_animated_control_images_give_one_job_per_frame(toys: Path, tmp_path: Path,
                                                        media: Path) -> None:
    result, calls = render(toys, tmp_path, "--toy-nets", "a", "--image-seeds",
                           f"{media / 'kitten.gif'};frame-end=2", "--output-size", "64",
                           "--animation-format", "gif")
    assert result.exit_code == 0, result.stderr
    assert len(calls) == 3 and all(call["mode"] == "txt2img" for call in calls)
    assert len(list((tmp_path / "out").glob("*.gif"))) == 1


def test_adapter_images_keep_their_own_sizes(toys: Path, tmp_path: Path, media: Path) -> None:
    dog, horse = media / "dog-on-bench.png", media / "horse1.jpg"
    result, calls = render(toys, tmp_path, "--toy-adapters", "x", "y", "--output-size", "64",
                           "--image-seeds", f"adapter: {dog}|resize=32 + {horse}, {dog}",
                           f"{horse};adapter={dog}|resize=40x24|aspect=false, {dog}")
    assert result.exit_code == 0, result.stderr
    first, second = (call for call in calls if call["kind"] == "ip_adapter")
    assert first["mode"] == "txt2img" and first["size"] == (64, 64)
    assert first["adapters"] == [[(32, 32), (1279, 719)], [(512, 512)]]
    assert second["mode"] == "img2img" and second["size"] == (64, 32)
    assert second["adapters"] == [[(40, 24)], [(512, 512)]]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--toy-nets", "a", "b", "--image-seeds", "{dog}"],
     "gives 1 control images for the 2 models of --toy-nets: give one per model"),
    (["--image-seeds", "{dog};control={dog}"], "gives control images, which need --control-nets or "
                                           "--t2i-adapters or --toy-nets"),
    (["--image-seeds", "{dog}, {dog}"], "several images before ';' are control images, for "
                                        "--control-nets or --t2i-adapters or --toy-nets; use "
                                        "the images: prefix"),
    (["--toy-nets", "a"], "--toy-nets needs control images from --image-seeds"),
    (["--toy-nets", "a", "--image-seeds", "{dog};mask={dog}"],
     "gives 0 control images for the 1 model of --toy-nets"),
    (["--toy-adapters", "x", "--image-seeds", "adapter: {dog}, {dog}"],
     "gives 2 IP adapter image groups for the 1 model of --toy-adapters"),
    (["--image-seeds", "adapter: {dog}"], "gives IP adapter image groups, which need "
                                          "--ip-adapters or --toy-adapters"),
    (["--toy-nets", "a", "--image-seeds", "{dog}", "--control-image-processors", "invert", "+",
      "invert"], "--control-image-processors: 2 processor chains"),
    (["--image-seeds", "{dog}", "--control-image-processors", "invert"],
     "has no control images"),
])
def test_mismatched_inputs_are_one_clear_error(toys: Path, tmp_path: Path, media: Path,
                                               arguments: list[str], message: str) -> None:
    arguments = [value.format(dog=media / "dog-on-bench.png") for value in arguments]
    result, calls = render(toys, tmp_path, "--dry-run", *arguments)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert calls == []
