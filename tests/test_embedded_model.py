"""The embedded model renders offline and follows its prompts, through the command line.

These are the tests that need *meaningful* output: the prompt must change the picture,
img2img must recolour, inpaint must fill the masked region and leave the rest alone.
The image analysis is the one ``tools/embedded_model/check_quality.py`` uses.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import REPO

sys.path.insert(0, str(REPO / "tools" / "embedded_model"))
import check_quality
import data

ENV = {"DGENERATE_DISABLE_PLUGINS": "*"}
MODEL = "embedded:shapes"
STEPS, GUIDANCE = str(check_quality.STEPS), str(check_quality.GUIDANCE)


def render(out: Path, *args: str, steps: str = STEPS) -> list[Path]:
    result = run_cli(MODEL, "--output-path", str(out), "--inference-steps", steps,
                     "--guidance-scales", GUIDANCE, *args, env=ENV)
    assert result.exit_code == 0, result.stderr
    return sorted(out.glob("*.png"))


def scene_file(folder: Path, scene: data.Scene, name: str) -> Path:
    path = folder / name
    Image.fromarray(data.render(scene)).save(path)
    return path


def found(path: Path) -> dict:
    with Image.open(path) as image:
        return check_quality.analyse(image)


def test_the_name_resolves_to_the_shipped_folder(tmp_path: Path) -> None:
    from dgenerate.plugin_api.diffusion.embedded import embedded_model_folder

    folder = Path(embedded_model_folder(MODEL))
    assert (folder / "model_index.json").is_file()
    weights = sum(path.stat().st_size for path in folder.rglob("*.safetensors"))
    assert weights <= 20 * 1024 * 1024  # the project's size budget
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt*"))


def test_unknown_embedded_name_is_one_clear_error(tmp_path: Path) -> None:
    result = run_cli("embedded:nothing", "--prompts", "x", "--output-path", str(tmp_path),
                     env=ENV)
    assert result.exit_code == 1
    assert result.stderr.strip() == ("dgenerate: error: there is no embedded model "
                                     "'embedded:nothing'; the embedded models are: "
                                     "embedded:shapes")
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


PROMPTS = [
    "a large red circle in the center, blue background",
    "a large yellow square on the left, purple background",
    "a small white triangle on the right, black background",
    "a large green square in the center, orange background",
]


def test_prompts_are_followed(tmp_path: Path) -> None:
    """Colours and position right in most renders of a small fixed subset."""
    files = render(tmp_path, "--prompts", *PROMPTS, "--seeds", "0", "1")
    assert len(files) == 8
    colours = positions = 0
    for path in files:
        job = int(path.stem.rsplit("_", 1)[1])  # step_N: prompts vary slowest, then seeds
        expected = check_quality.parse_prompt(PROMPTS[(job - 1) // 2])
        result = found(path)
        colours += result["colour"] == expected["colour"] and \
            result["background"] == expected["background"]
        positions += result["position"] == expected["position"]
    assert colours >= 7, f"{colours}/8 renders had both colours right"
    assert positions >= 7, f"{positions}/8 renders had the shape where the prompt said"


def test_the_prompt_changes_the_picture(tmp_path: Path) -> None:
    files = render(tmp_path, "--prompts", "a large red circle in the center, blue background",
                   "a large red circle in the center, green background", "--seeds", "3")
    backgrounds = [found(path)["background"] for path in files]
    assert backgrounds == ["blue", "green"]


def test_img2img_changes_the_colour(tmp_path: Path) -> None:
    seed = scene_file(tmp_path, data.Scene("circle", "red", "blue", "center", "large"),
                      "red.png")
    out = tmp_path / "out"
    files = render(out, "--image-seeds", str(seed), "--image-seed-strengths", "0.8",
                   "--prompts", "a large green circle in the center, blue background",
                   "--seeds", "0", "1")
    for path in files:
        result = found(path)
        assert (result["colour"], result["background"]) == ("green", "blue"), path.name


def vae_round_trip(image: np.ndarray) -> np.ndarray:
    """The image through the model's autoencoder alone: the best any render can keep."""
    import torch
    from diffusers import AutoencoderKL

    from dgenerate.plugin_api.diffusion.embedded import embedded_model_folder

    vae = AutoencoderKL.from_pretrained(embedded_model_folder(MODEL), subfolder="vae")
    pixels = torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():
        decoded = vae.decode(vae.encode(pixels).latent_dist.mode()).sample
    return ((decoded[0].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).round()


def test_inpaint_fills_the_mask_and_keeps_the_rest(tmp_path: Path) -> None:
    scene = data.Scene("square", "red", "blue", "left", "large")
    seed = scene_file(tmp_path, scene, "seed.png")
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, :34] = 255  # the left part, where the red square is
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    files = render(out, "--image-seeds", f"{seed};{tmp_path / 'mask.png'}",
                   "--prompts", "a large yellow square on the left, blue background",
                   # asks for a new background too: it may change only inside the mask
                   "a large yellow square on the left, green background",
                   "--seeds", "0", "1")
    assert len(files) == 4
    original = data.render(scene).astype(float)
    # the mask acts on 8x8 latent cells and the decoder blends across a cell or so, so the
    # check starts 10 px away from the mask's edge; a mask ignored moves these pixels by ~85
    outside = np.s_[:, 44:]
    floor = np.abs(vae_round_trip(original)[outside] - original[outside]).mean()
    for path in files:
        with Image.open(path) as image:
            result = np.asarray(image.convert("RGB")).astype(float)
        kept = np.abs(result[outside] - original[outside]).mean()
        # outside the mask the picture is the input, up to what the autoencoder loses anyway
        # plus a little: the decoder's attention lets a recoloured region tint the whole
        # picture slightly (measured: +6 for a new background colour, +0 for the same one)
        assert kept < floor + 10, f"{path.name}: unmasked pixels moved by {kept:.1f} " \
                                  f"(autoencoder alone: {floor:.1f})"
        right = result[:, 48:60].reshape(-1, 3).mean(axis=0)
        assert check_quality.analyse(np.tile(right, (8, 8, 1)).astype(np.uint8))[
            "background"] == "blue", f"{path.name}: the unmasked right side is {right}"
        if int(path.stem.rsplit("_", 1)[1]) <= 2:  # the first prompt (jobs 1 and 2)
            analysis = found(path)
            assert (analysis["colour"], analysis["background"]) == ("yellow", "blue"), path.name
            assert analysis["position"] == "left", path.name


def test_readme_first_command_renders_where_it_says(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    first = readme.split("```", 2)[1].splitlines()[1]
    command = shlex.split(first.split("&&", 1)[1])
    assert command[0] == ".venv/bin/dgenerate" and command[1] == MODEL
    output = command[command.index("--output-path") + 1]
    result = run_cli(*command[1:], env=ENV, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    written = sorted((tmp_path / output).glob("*.png"))
    assert written and output in readme.split("```", 3)[2]  # the README names the folder
    with Image.open(written[0]) as image:
        assert image.size == (64, 64)


@pytest.mark.parametrize("prompt", ["a purple banana", ""])
def test_unknown_words_still_render(tmp_path: Path, prompt: str) -> None:
    files = render(tmp_path, "--prompts", prompt, "--seeds", "0", steps="2")
    assert len(files) == 1


EXAMPLE_OUTPUTS = {
    "shapes.dgen": {"shapes": 4},
    "recolour.dgen": {"recolour/red": 2, "recolour/green": 2},
    "cooperative.dgen": {"cooperative/finished": 1},
}


def test_every_example_script_runs(tmp_path: Path) -> None:
    folder = REPO / "examples" / "embedded_model"
    assert sorted(path.name for path in folder.glob("*.dgen")) == sorted(EXAMPLE_OUTPUTS)
    for script, outputs in EXAMPLE_OUTPUTS.items():
        result = run_cli("--file", str(folder / script), env=ENV, cwd=tmp_path)
        assert result.exit_code == 0, f"{script}: {result.stderr}"
        for output, count in outputs.items():
            assert len(list((tmp_path / output).glob("*.png"))) == count, (script, output)
    with Image.open(next((tmp_path / "recolour/green").glob("*.png"))) as image:
        assert image.size == (256, 256)  # the resize post-processor ran
    for path in (tmp_path / "recolour/green").glob("*.png"):
        assert found(path)["colour"] == "green", path.name
    # resumed half way from the red circle's latents, the second prompt's colour wins
    assert len(list((tmp_path / "cooperative/noisy").glob("*.pt"))) == 1
    for path in (tmp_path / "cooperative/finished").glob("*.png"):
        assert found(path)["colour"] == "blue", path.name


# diffusers' multistep schedulers and torchsde warn about numpy 2 and float rounding, per step
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_every_compatible_scheduler_renders(tmp_path: Path) -> None:
    """Every scheduler ``--schedulers help`` offers can be built and run (their extra
    packages, scipy and torchsde, are installed; an EDM scheduler gets usable defaults)."""
    listing = run_cli(MODEL, "--schedulers", "help", env=ENV)
    assert listing.exit_code == 0, listing.stderr
    names = [line.strip().strip('"') for line in listing.stdout.splitlines()
             if line.strip().startswith('"')]
    assert {"LMSDiscreteScheduler", "DPMSolverSDEScheduler", "EDMEulerScheduler"} <= set(names)
    files = render(tmp_path, "--prompts", "a red circle", "--seeds", "0", "--schedulers",
                   *names, steps="3")
    assert sorted(path.name.split("_")[0] for path in files) == sorted(names)


def test_ddim_keeps_the_colours(tmp_path: Path) -> None:
    """DDIM and DDPM clip latents unless the model's scheduler config says not to."""
    files = render(tmp_path, "--prompts", "a small red triangle on the right, blue background",
                   "--seeds", "0", "--schedulers", "DDIMScheduler", "DDPMScheduler")
    for path in files:
        result = found(path)
        assert (result["colour"], result["background"]) == ("red", "blue"), path.name


def test_a_pipeline_failure_names_the_job_and_the_scheduler(tmp_path: Path) -> None:
    """diffusers' PNDM without skipped Runge-Kutta steps cannot do 3 steps; its message alone
    ("operands could not be broadcast") would not tell the user what to change."""
    result = run_cli(MODEL, "--prompts", "a red circle", "--schedulers",
                     "PNDMScheduler;skip-prk-steps=false", "--inference-steps", "3",
                     "--output-path", str(tmp_path / "out"), env=ENV)
    assert result.exit_code == 1
    assert "cannot run job 1 (PNDMScheduler, 3 steps): " in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
