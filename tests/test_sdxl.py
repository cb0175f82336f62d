"""The SDXL plugin through the command line: sdxl (with and without the refiner) and
sdxl-pix2pix, on tiny random-weight models."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api import Category, Size
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render

SDXL = ("--model-type", "sdxl", "--output-size", "64", "--seeds", "1")


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def calls(result: Any) -> list[str]:
    """The pipeline calls logged with -v, in order."""
    return [line for line in (result.stdout + result.stderr).splitlines()
            if "pipeline call:" in line]


# ------------------------------------------------------------------- sdxl alone


def test_txt2img_with_second_prompts_and_micro_conditioning(tiny_sdxl: Path,
                                                            tmp_path: Path) -> None:
    result = ok(tiny_sdxl, tmp_path, *SDXL, "--second-prompts", "a red circle",
                "a blue square; blurry", "--sdxl-original-sizes", "128x96",
                "--sdxl-crops-coords-top-left", "8,16", "--sdxl-negative-target-sizes", "64",
                "-v")
    assert names(tmp_path) == ["s_1_g_5-0_i_2_step_1.png", "s_1_g_5-0_i_2_step_2.png"]
    assert size_of(tmp_path / "s_1_g_5-0_i_2_step_1.png") == (64, 64)
    first, second = calls(result)
    # sizes go to diffusers as (height, width), crop coordinates x,y as (top, left)
    for expected in ("prompt_2=['a red circle']", "original_size=(96, 128)",
                     "crops_coords_top_left=(16, 8)", "negative_target_size=(64, 64)"):
        assert expected in first
    assert "negative_prompt_2=['blurry']" in second and "negative_prompt_2" not in first
    assert not np.array_equal(pixels(tmp_path / "s_1_g_5-0_i_2_step_1.png"),
                              pixels(tmp_path / "s_1_g_5-0_i_2_step_2.png"))


def test_img2img_and_inpaint_take_guidance_rescale(tiny_sdxl: Path, tmp_path: Path,
                                                   media: Path) -> None:
    horse, mask = media / "horse1.jpg", media / "horse1-mask.jpg"
    result = ok(tiny_sdxl, tmp_path, *SDXL, "--image-seeds", str(horse), f"{horse};{mask}",
                "--guidance-rescales", "0.5", "--sdxl-aesthetic-scores", "6", "-v")
    assert names(tmp_path) == ["s_1_st_0-8_g_5-0_gr_0-5_i_2_step_1.png",
                               "s_1_st_0-8_g_5-0_gr_0-5_i_2_step_2.png"]
    img2img, inpaint = calls(result)
    assert "guidance_rescale=0.5" in img2img and "aesthetic_score=6.0" in img2img
    assert "mask_image=" in inpaint and "guidance_rescale=0.5" in inpaint
    assert size_of(tmp_path / "s_1_st_0-8_g_5-0_gr_0-5_i_2_step_1.png")[0] == 64


def test_default_size_is_1024(tiny_sdxl: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    registry = isolated_plugin_manager().registry(Category.MODEL_TYPE)
    assert registry.get("sdxl").capabilities.default_size == Size(1024, 1024)
    # rendering 1024 px on the CPU is slow: stand in for the pipeline call, keep the rest
    from dgenerate.plugin_api.diffusion import DiffusersModelType

    sizes = []

    def fake_call(self, job, pipeline, arguments, **_):
        sizes.append((arguments["width"], arguments["height"]))
        return type("Result", (), {"images": [Image.new("RGB", (job.width, job.height))]})

    monkeypatch.setattr(DiffusersModelType, "run_pipeline", fake_call)
    ok(tiny_sdxl, tmp_path, "--model-type", "sdxl", "--seeds", "1")
    assert sizes == [(1024, 1024)]
    assert size_of(tmp_path / "s_1_g_5-0_i_2_step_1.png") == (1024, 1024)


# -------------------------------------------------------------------- refiner


def test_refiner_denoises_the_rest_of_the_schedule(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                   tmp_path: Path) -> None:
    result = ok(tiny_sdxl, tmp_path / "refined", *SDXL, "--sdxl-refiner",
                str(tiny_sdxl_refiner), "-hnf", "0.7", "--model-cpu-offload",
                "--second-model-cpu-offload", "-v")
    assert names(tmp_path / "refined") == ["s_1_g_5-0_i_2_hnf_0-7_step_1.png"]
    base, refiner = calls(result)
    assert "output_type='latent'" in base and "denoising_end=0.7" in base
    assert "image=Tensor" in refiner and "denoising_start=0.7" in refiner
    assert "strength" not in refiner
    # offloading has nothing to do on the CPU: it says so with -v and renders anyway
    assert "--model-cpu-offload: the device is the CPU" in result.stdout + result.stderr
    assert "--second-model-cpu-offload: the device is the CPU" in result.stdout + result.stderr
    ok(tiny_sdxl, tmp_path / "plain", *SDXL)
    assert not np.array_equal(pixels(tmp_path / "refined" / "s_1_g_5-0_i_2_hnf_0-7_step_1.png"),
                              pixels(tmp_path / "plain" / "s_1_g_5-0_i_2_step_1.png"))


def test_refiner_edits_inpainting_and_on_request(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                 tmp_path: Path, media: Path) -> None:
    horse, mask = media / "horse1.jpg", media / "horse1-mask.jpg"
    result = ok(tiny_sdxl, tmp_path, *SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner),
                "--image-seeds", f"{horse};{mask}", "--inference-steps", "4",
                "--second-model-inference-steps", "5", "-hnf", "0.6", "-v")
    base, refiner = calls(result)
    assert "denoising_end" not in base and "output_type='latent'" in base
    assert "strength=0.4" in refiner and "num_inference_steps=5" in refiner
    assert "denoising_start" not in refiner
    assert names(tmp_path) == ["s_1_st_0-8_g_5-0_i_4_i2_5_hnf_0-6_step_1.png"]
    # txt2img in edit mode; 2 steps x strength 0.2 is no step: raised to one, with a warning
    result = ok(tiny_sdxl, tmp_path / "edit", *SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner),
                "--sdxl-refiner-edit", "-v")
    base, refiner = calls(result)
    assert "denoising_end" not in base and "strength=0.5" in refiner
    assert "the refiner's 2 steps with strength 0.2" in result.stderr


def test_refiner_options_reach_the_refiner(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                           tmp_path: Path) -> None:
    result = ok(tiny_sdxl, tmp_path, *SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner),
                "--prompts", "a horse; blurry", "--guidance-rescales", "0.2",
                "-sch2", "EulerDiscreteScheduler;timestep-spacing=trailing", "-gs2", "4",
                "-ifs2", "3",
                "--second-model-prompts", "a foal; dark", "--second-model-second-prompts",
                "a pony", "--sdxl-refiner-clip-skips", "1",
                "--sdxl-refiner-aesthetic-scores", "7", "--sdxl-refiner-target-sizes", "64",
                "-sir", "10.0,5.0,1.0,0.0", "-v")
    base, refiner = calls(result)
    assert "prompt=['a horse']" in base and "guidance_rescale=0.2" in base
    for expected in ("prompt=['a foal']", "negative_prompt=['dark']", "prompt_2=['a pony']",
                     "guidance_scale=4.0", "guidance_rescale=0.2", "clip_skip=1",
                     "aesthetic_score=7.0", "target_size=(64, 64)",
                     "sigmas=[10.0, 5.0, 1.0, 0.0]"):
        assert expected in refiner
    assert names(tmp_path) == [
        "EulerDiscreteScheduler_s_1_g_5-0_g2_4-0_gr_0-2_i_2_i2_3_rcs_1_hnf_0-8_step_1.png"]


def test_axes_multiply_the_jobs_and_name_the_files(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                   tmp_path: Path) -> None:
    result = run_cli(str(tiny_sdxl), *SDXL, "--dry-run", "--output-path", str(tmp_path),
                     "--inference-steps", "2", "--sdxl-refiner", str(tiny_sdxl_refiner),
                     "-hnf", "0.6", "0.7", "--second-prompts", "a", "b",
                     "--sdxl-target-sizes", "64", "128", "--schedulers", "DDIMScheduler",
                     "-sch2", "EulerDiscreteScheduler", "-gs2", "3", "-ifs2", "4",
                     "--clip-skips", "1", "--sdxl-refiner-clip-skips", "0", "-rgr", "0.1",
                     "--guidance-rescales", "0.3", env=ENV)
    assert result.exit_code == 0, result.stderr
    files = [Path(line.strip()).name for line in result.stdout.splitlines()
             if line.startswith("    ")]
    assert len(files) == 8
    assert files[0] == ("DDIMScheduler_EulerDiscreteScheduler_s_1_g_5-0_g2_3-0_gr_0-3_i_2_i2_4_"
                        "cs_1_rcs_0_hnf_0-6_rgr_0-1_step_1.png")
    assert [re.search(r"hnf_(\S+?)_", name).group(1) for name in files] == ["0-6"] * 4 + [
        "0-7"] * 4
    assert [int(name.rsplit("_", 1)[1][:-4]) for name in files] == list(range(1, 9))


def test_output_config_reproduces_a_refined_image(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                  tmp_path: Path) -> None:
    ok(tiny_sdxl, tmp_path / "first", *SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner),
       "--prompts", "a red circle; blurry", "--second-prompts", "a circle",
       "-hnf", "0.5", "-gs2", "6", "-sch2", "EulerAncestralDiscreteScheduler",
       "--sdxl-refiner-aesthetic-scores", "5", "--second-model-cpu-offload",
       "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    text = config.read_text()
    for line in ("--sdxl-refiner", "--sdxl-high-noise-fractions 0.5",
                 "--second-model-guidance-scales 6.0", "--second-prompts 'a circle'",
                 "--second-model-schedulers EulerAncestralDiscreteScheduler",
                 "--sdxl-refiner-aesthetic-scores 5.0", "--model-type sdxl"):
        assert line in text
    assert "offload" not in text  # does not change the pixels
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    [image] = sorted((tmp_path / "first").glob("*.png"))
    assert np.array_equal(pixels(image), pixels(tmp_path / "again" / image.name))


def test_last_high_noise_fractions_in_a_config_script(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                                      tmp_path: Path) -> None:
    script = tmp_path / "script.dgen"
    script.write_text(textwrap.dedent(f"""
        {tiny_sdxl} --model-type sdxl --output-size 64 --seeds 1 --inference-steps 1 \\
            --sdxl-refiner {tiny_sdxl_refiner} -hnf 0.3 0.6 --output-path {tmp_path / "out"}
        \\print {{{{ last_sdxl_high_noise_fractions }}}} {{{{ last_sdxl_refiner }}}}
        {tiny_sdxl} --model-type sdxl --output-size 64 --seeds 1 --inference-steps 1 \\
            --output-path {tmp_path / "out"}
        \\print {{{{ last_sdxl_high_noise_fractions }}}}
        """))
    result = run_cli("--file", str(script), env=ENV)
    assert result.exit_code == 0, result.stderr
    printed = [line for line in result.stdout.splitlines() if not line.startswith("wrote")]
    assert printed == [f"[0.3, 0.6] {tiny_sdxl_refiner}", "[]"]


def test_a_later_invocation_starts_from_the_loaded_schedulers(tiny_sdxl: Path,
                                                              tiny_sdxl_refiner: Path,
                                                              tmp_path: Path) -> None:
    """Jobs replace the scheduler of a cached pipeline; the next invocation of a script
    (same cached pipelines) must still use the model's own when none is asked for."""
    common = (f"{tiny_sdxl} --model-type sdxl --output-size 64 --seeds 1 --inference-steps 2 "
              f"--sdxl-refiner {tiny_sdxl_refiner} -hnf 0.5")
    script = tmp_path / "script.dgen"
    script.write_text(f"{common} --schedulers EulerAncestralDiscreteScheduler "
                      f"-sch2 DDIMScheduler --output-path {tmp_path / 'a'}\n"
                      f"{common} --output-path {tmp_path / 'b'}\n")
    result = run_cli("--file", str(script), env=ENV)
    assert result.exit_code == 0, result.stderr
    ok(tiny_sdxl, tmp_path / "c", *SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner), "-hnf", "0.5")
    name = "s_1_g_5-0_i_2_hnf_0-5_step_1.png"
    assert np.array_equal(pixels(tmp_path / "b" / name), pixels(tmp_path / "c" / name))


# ---------------------------------------------------------------- sdxl-pix2pix


def test_pix2pix_edits_an_image(tiny_sdxl_pix2pix: Path, tmp_path: Path, media: Path) -> None:
    result = ok(tiny_sdxl_pix2pix, tmp_path, "--model-type", "sdxl-pix2pix", "--seeds", "1",
                "--image-seeds", f"{media / 'horse1.jpg'};64", "--image-guidance-scales", "1.5",
                "2", "--guidance-rescales", "0.1", "--second-prompts", "make it red",
                "--sdxl-target-sizes", "64", "-v")
    assert names(tmp_path) == ["s_1_g_5-0_gr_0-1_igs_1-5_i_2_step_1.png",
                               "s_1_g_5-0_gr_0-1_igs_2-0_i_2_step_2.png"]
    first, _ = calls(result)
    for expected in ("image_guidance_scale=1.5", "guidance_rescale=0.1",
                     "prompt_2=['make it red']", "width=64", "target_size=(64, 64)"):
        assert expected in first
    assert "strength" not in first
    width, height = size_of(tmp_path / "s_1_g_5-0_gr_0-1_igs_1-5_i_2_step_1.png")
    assert width == 64 and height < 64  # the input's size, aspect kept


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(("arguments", "message"), [
    (["-hnf", "0.5"], "--sdxl-high-noise-fractions needs --sdxl-refiner"),
    (["--second-model-guidance-scales", "4"], "--second-model-guidance-scales needs "
                                              "--sdxl-refiner"),
    (["--model-type", "sd", "--sdxl-refiner", "{refiner}"],
     "--sdxl-refiner does not apply to --model-type sd; it applies to sdxl"),
    (["--sdxl-refiner", "{refiner};revison=x"], "--sdxl-refiner has no argument 'revison'"),
    (["--sdxl-refiner", "{refiner}", "-hnf", "1"],
     "--sdxl-high-noise-fractions: '1' must be between 0 and 1"),
    (["--sdxl-refiner", "{refiner}", "-un2", "unet"],
     "--second-model-unet 'unet': the model 'unet' does not exist"),
    (["--sdxl-refiner", "{refiner}", "-te2", "a", "b"],
     "--second-model-text-encoders 'a': unknown text encoder class 'a'"),
    (["-mco", "-mqo"], "--model-cpu-offload and --model-sequential-offload cannot be used "
                       "together"),
    (["--sdxl-refiner", "{refiner}", "-mco2", "-mqo2"],
     "--second-model-cpu-offload and --second-model-sequential-offload cannot be used"),
    (["--sdxl-refiner", "{refiner}", "-sch2", "NoScheduler"],
     "--second-model-schedulers: 'NoScheduler' is not a diffusers scheduler"),
    (["--sdxl-refiner", "{refiner}", "-sch2", "help", "DDIMScheduler"],
     "--second-model-schedulers: help and helpargs must be given alone"),
    (["--sdxl-aesthetic-scores", "6"], "condition img2img and inpainting only"),
    (["--sdxl-crops-coords-top-left", "0x0"], "'0x0' is not a coordinate x,y"),
    (["--model-type", "sdxl-pix2pix", "--image-guidance-scales", "0.5", "--image-seeds",
      "{horse}"], "--image-guidance-scales: '0.5' must be at least 1"),
    (["--model-type", "sdxl-pix2pix"], "--model-type sdxl-pix2pix does not do txt2img"),
    (["--model-type", "sdxl-pix2pix", "--clip-skips", "1", "--image-seeds", "{horse}"],
     "--clip-skips does not apply to --model-type sdxl-pix2pix"),
])
def test_mistakes_are_reported_before_loading(tmp_path: Path, media: Path, tiny_sdxl: Path,
                                              tiny_sdxl_refiner: Path, arguments: list[str],
                                              message: str) -> None:
    arguments = [value.format(refiner=tiny_sdxl_refiner, horse=media / "horse1.jpg")
                 for value in arguments]
    if "--model-type" not in arguments:
        arguments = ["--model-type", "sdxl", *arguments]
    result = run_cli(str(tiny_sdxl), *arguments, "--dry-run", "--output-path", str(tmp_path),
                     env=ENV)
    assert result.exit_code != 0
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(("refiner", "extra", "message"), [
    ("{tmp}/no-such-refiner", [], "--sdxl-refiner: the model '{tmp}/no-such-refiner' does not "
                                  "exist"),
    ("{tmp}/refiner.safetensors;variant=fp16", [],
     "a single-file checkpoint takes only the dtype argument, not variant"),
    ("{refiner}", ["--second-model-original-config", "{tmp}/x.yaml"],
     "--second-model-original-config applies to a single-file refiner checkpoint"),
])
def test_a_refiner_that_cannot_load_fails_before_rendering(
        tiny_sdxl: Path, tiny_sdxl_refiner: Path, tmp_path: Path, refiner: str,
        extra: list[str], message: str) -> None:
    values = {"tmp": tmp_path / "in", "refiner": tiny_sdxl_refiner}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "refiner.safetensors").write_bytes(b"")
    result = render(tiny_sdxl, tmp_path / "out", *SDXL, "--sdxl-refiner",
                    refiner.format(**values), *(value.format(**values) for value in extra))
    assert result.exit_code != 0
    assert message.format(**values) in result.stderr, result.stderr
    assert not list((tmp_path / "out").glob("*.png"))


def test_second_model_scheduler_help_lists_the_refiners_schedulers(
        tiny_sdxl: Path, tiny_sdxl_refiner: Path, tmp_path: Path) -> None:
    listed = run_cli(str(tiny_sdxl), "--model-type", "sdxl", "--sdxl-refiner",
                     str(tiny_sdxl_refiner), "-sch2", "help", "--output-path", str(tmp_path),
                     env=ENV)
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.startswith(f'Compatible schedulers for "{tiny_sdxl_refiner}" are:')
    assert '    "EulerDiscreteScheduler"' in listed.stdout
    arguments = run_cli(str(tiny_sdxl), "--model-type", "sdxl", "--sdxl-refiner",
                        str(tiny_sdxl_refiner), "-sch2", "helpargs", "--output-path",
                        str(tmp_path), env=ENV)
    assert "EulerDiscreteScheduler:\n    clone-config: bool = True" in arguments.stdout
    assert list(tmp_path.iterdir()) == []  # nothing rendered
