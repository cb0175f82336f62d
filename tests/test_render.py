"""Rendering through the command line on a tiny random-weight Stable Diffusion model."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY as ENV
from .support import names
from .support import render_ok as ok
from .support import render_quick as render


def read_user_comment(image: Image.Image) -> str | None:
    """The EXIF UserComment of a JPEG image (an 8-byte character code, then the text)."""
    raw = image.getexif().get_ifd(0x8769).get(0x9286)
    if not raw or isinstance(raw, str):
        return raw or None
    prefix, body = raw[:8], raw[8:]
    return body.decode("utf-16-be" if prefix.startswith(b"UNICODE") else "ascii")


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def config_arguments(text: str) -> list[str]:
    """The invocation of a one-command config script (comments and \\ continuations)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return shlex.split(" ".join(line.rstrip("\\").strip() for line in lines))


# ------------------------------------------------------------------- the grid


def test_every_combination_is_rendered(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--prompts", "a red circle", "a blue square; blurry",
       "--seeds", "7", "8", "--inference-steps", "1", "2")
    assert names(tmp_path) == [
        "s_7_g_5-0_i_1_step_1.png", "s_7_g_5-0_i_1_step_5.png",
        "s_7_g_5-0_i_2_step_2.png", "s_7_g_5-0_i_2_step_6.png",
        "s_8_g_5-0_i_1_step_3.png", "s_8_g_5-0_i_1_step_7.png",
        "s_8_g_5-0_i_2_step_4.png", "s_8_g_5-0_i_2_step_8.png",
    ]
    with Image.open(tmp_path / "s_7_g_5-0_i_1_step_1.png") as image:
        assert image.size == (64, 64)  # the model's native size


def test_name_tokens_and_prefix(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "3", "--guidance-scales", "7.5", "--guidance-rescales",
       "0.7", "--clip-skips", "1", "--schedulers", "EulerAncestralDiscreteScheduler",
       "--output-prefix", "run")
    assert names(tmp_path) == [
        "run_EulerAncestralDiscreteScheduler_s_3_g_7-5_gr_0-7_i_2_cs_1_step_1.png"]


def test_gen_seeds(tiny_sd: Path, tmp_path: Path) -> None:
    result = ok(tiny_sd, tmp_path, "--gen-seeds", "3")
    assert len(names(tmp_path)) == 3
    assert result.stdout.count("wrote ") == 3


def test_same_seed_same_image_and_different_seeds_differ(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "a", "--seeds", "5", "6")
    ok(tiny_sd, tmp_path / "b", "--seeds", "5")
    first = pixels(tmp_path / "a" / "s_5_g_5-0_i_2_step_1.png")
    assert np.array_equal(first, pixels(tmp_path / "b" / "s_5_g_5-0_i_2_step_1.png"))
    assert not np.array_equal(first, pixels(tmp_path / "a" / "s_6_g_5-0_i_2_step_2.png"))


def test_dry_run_plans_without_loading(tmp_path: Path) -> None:
    result = run_cli("does/not-exist", "--dry-run", "--output-path", str(tmp_path),
                     "--prompts", "a", "b", "--seeds", "1", "--batch-size", "2", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "job 1: prompt='a' seed=1 steps=30 guidance=5.0",
        f"    {tmp_path}/s_1_g_5-0_i_30_step_1_image_1.png",
        f"    {tmp_path}/s_1_g_5-0_i_30_step_1_image_2.png",
        "job 2: prompt='b' seed=1 steps=30 guidance=5.0",
        f"    {tmp_path}/s_1_g_5-0_i_30_step_2_image_1.png",
        f"    {tmp_path}/s_1_g_5-0_i_30_step_2_image_2.png",
    ]
    assert names(tmp_path) == []


# -------------------------------------------------------------------- batches


def test_batch_files_and_per_item_seeds(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "batch", "--seeds", "10", "--batch-size", "2")
    assert names(tmp_path / "batch") == ["s_10_g_5-0_i_2_step_1_image_1.png",
                                         "s_10_g_5-0_i_2_step_1_image_2.png"]
    ok(tiny_sd, tmp_path / "single", "--seeds", "11")
    second = pixels(tmp_path / "batch" / "s_10_g_5-0_i_2_step_1_image_2.png")
    alone = pixels(tmp_path / "single" / "s_11_g_5-0_i_2_step_1.png")
    assert np.abs(second - alone).max() <= 2  # batch item 2 of seed 10 is seed 11


def test_batch_grid(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--batch-size", "3", "--batch-grid-size", "2x2",
       "--output-size", "64x48")
    assert names(tmp_path) == ["s_1_g_5-0_i_2_step_1.png"]
    with Image.open(tmp_path / "s_1_g_5-0_i_2_step_1.png") as grid:
        assert grid.size == (128, 96)
        assert np.asarray(grid)[48:, 64:].max() == 0  # the fourth cell stays empty


def test_output_size(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--output-size", "72x40")
    with Image.open(next(tmp_path.iterdir())) as image:
        assert image.size == (72, 40)


def test_duplicates_and_overwrite(tiny_sd: Path, tmp_path: Path) -> None:
    for _ in range(2):
        ok(tiny_sd, tmp_path, "--seeds", "1")
    assert names(tmp_path) == ["s_1_g_5-0_i_2_step_1.png",
                               "s_1_g_5-0_i_2_step_1_duplicate_1.png"]
    ok(tiny_sd, tmp_path, "--seeds", "1", "--output-overwrite")
    assert len(names(tmp_path)) == 2


# ----------------------------------------------------------- img2img, inpaint


def test_img2img_resizes_with_aspect(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--image-seeds", str(media / "horse1.jpg"),
       "--output-size", "64", "--image-seed-strengths", "0.5", "1")
    assert names(tmp_path) == ["s_1_st_0-5_g_5-0_i_2_step_1.png",
                               "s_1_st_1-0_g_5-0_i_2_step_2.png"]
    with Image.open(tmp_path / "s_1_st_0-5_g_5-0_i_2_step_1.png") as image:
        assert image.size == (64, 32)  # 1279x719 -> width 64, height 36 aligned down to 8


@pytest.mark.parametrize(("seed_suffix", "size"), [
    (";96x64", (96, 48)),  # the aspect ratio is kept by default: the width rules
    (";resize=96x64;aspect=false", (96, 64)),
    (";resize=100;align=16", (96, 48)),
    (";align=64", (1216, 704)),
])
def test_per_seed_resize(tiny_sd: Path, tmp_path: Path, media: Path, seed_suffix: str,
                         size: tuple[int, int]) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1",
       "--image-seeds", str(media / "horse1.jpg") + seed_suffix)
    with Image.open(next(tmp_path.iterdir())) as image:
        assert image.size == size


def test_inpaint(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--output-size", "64x64", "--no-aspect",
       "--image-seeds", f"{media / 'horse1.jpg'};{media / 'horse1-mask.jpg'}")
    assert names(tmp_path) == ["s_1_st_0-8_g_5-0_i_2_step_1.png"]


def test_images_batch_with_masks(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    horse, mask = media / "horse1.jpg", media / "horse1-mask.jpg"
    seed = f"images: {horse}, {horse};mask={mask}, {mask};resize=64x32;aspect=false"
    ok(tiny_sd, tmp_path / "two", "--seeds", "1", "--image-seeds", seed)
    assert names(tmp_path / "two") == ["s_1_st_0-8_g_5-0_i_2_step_1_image_1.png",
                                       "s_1_st_0-8_g_5-0_i_2_step_1_image_2.png"]
    ok(tiny_sd, tmp_path / "four", "--seeds", "1", "--image-seeds", seed, "--batch-size", "4")
    assert len(names(tmp_path / "four")) == 4
    bad = render(tiny_sd, tmp_path / "three", "--image-seeds", seed, "--batch-size", "3")
    assert bad.exit_code == 1
    assert "--batch-size 3 must be a multiple of the 2 images" in bad.stderr


def test_seed_processors_with_chain_groups(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    horse = media / "horse1.jpg"
    debug = tmp_path / "debug.png"
    ok(tiny_sd, tmp_path / "out", "--seeds", "1",
       "--image-seeds", f"images: {horse}, {horse};resize=64x32;aspect=false",
       "--seed-image-processors", "+", f"mirror;output-file={debug}")
    with Image.open(horse) as original:
        expected = np.asarray(original.convert("RGB").resize(
            (64, 32), Image.Resampling.LANCZOS))[:, ::-1]
    assert np.array_equal(pixels(debug), expected)  # only the second input was mirrored
    too_many = render(tiny_sd, tmp_path / "bad", "--image-seeds", str(horse),
                      "--seed-image-processors", "flip", "+", "mirror")
    assert too_many.exit_code == 1
    assert "2 processor chains separated by '+' were given for 1 input image" in too_many.stderr


def test_post_processors(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "plain", "--seeds", "4")
    ok(tiny_sd, tmp_path / "inverted", "--seeds", "4", "--post-processors", "invert")
    plain = pixels(tmp_path / "plain" / "s_4_g_5-0_i_2_step_1.png")
    assert np.array_equal(pixels(tmp_path / "inverted" / "s_4_g_5-0_i_2_step_1.png"),
                          255 - plain)


def test_seeds_to_images(tiny_sd: Path, tmp_path: Path, media: Path) -> None:
    horse = str(media / "horse1.jpg") + ";64x32"
    ok(tiny_sd, tmp_path, "--image-seeds", horse, horse, "--seeds", "1", "2",
       "--seeds-to-images")
    assert names(tmp_path) == ["s_1_st_0-8_g_5-0_i_2_step_1.png",
                               "s_2_st_0-8_g_5-0_i_2_step_2.png"]


# ----------------------------------------------------------- schedulers, sigmas


def test_scheduler_help(tiny_sd: Path, tmp_path: Path) -> None:
    listing = ok(tiny_sd, tmp_path, "--scheduler", "help")
    lines = listing.stdout.splitlines()
    assert lines[0] == f'Compatible schedulers for "{tiny_sd}" are:'
    assert '    "EulerDiscreteScheduler"' in lines and '    "DDIMScheduler"' in lines
    arguments = ok(tiny_sd, tmp_path, "--scheduler", "helpargs")
    assert "PNDMScheduler:\n    clone-config: bool = True\n" in arguments.stdout
    assert '    prediction-type: str = "epsilon"' in arguments.stdout
    assert names(tmp_path) == []


def test_scheduler_arguments_are_applied(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "a", "--seeds", "1", "--schedulers", "EulerDiscreteScheduler")
    ok(tiny_sd, tmp_path / "b", "--seeds", "1",
       "--schedulers", "EulerDiscreteScheduler;timestep-spacing=trailing")
    first = pixels(next((tmp_path / "a").iterdir()))
    assert not np.array_equal(first, pixels(next((tmp_path / "b").iterdir())))


@pytest.mark.parametrize(("scheduler", "message"), [
    ("EulerDiscreteSchedular", "is not a diffusers scheduler; did you mean "
                               "'EulerDiscreteScheduler'?"),
    ("FlowMatchEulerDiscreteScheduler", "'FlowMatchEulerDiscreteScheduler' is not a scheduler "
                                        "this model can use"),
    ("EulerDiscreteScheduler;timestep-spasing=x", "scheduler 'EulerDiscreteScheduler' has no "
                                                  "argument 'timestep-spasing'; did you mean "
                                                  "'timestep-spacing'?"),
    ("EulerDiscreteScheduler;num-train-timesteps=many", "expects int"),
    ("help;x=1", "'help' is not a diffusers scheduler"),
])
def test_scheduler_errors(tiny_sd: Path, tmp_path: Path, scheduler: str, message: str) -> None:
    result = render(tiny_sd, tmp_path, "--schedulers", scheduler)
    assert result.exit_code == 1
    assert message in result.stderr
    assert names(tmp_path) == []


def test_sigmas(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--sigmas", "14.6,7.0,2.0,0.0",
       "expr: sigmas * 0.9")
    assert len(names(tmp_path)) == 2


@pytest.mark.parametrize(("arguments", "message"), [
    (["--sigmas", "expr: sigmas *"], "is not valid Python"),
    (["--sigmas", "expr: nosuchname * 2"], "failed: "),
    (["--sigmas", "1.0,x"], "'x' is not a number"),
    (["--sigmas", "1.0"], "needs at least two sigmas"),
    (["--sigmas", "1.0,0.0", "--schedulers", "DDIMScheduler"],
     "DDIMScheduler does not accept custom sigmas"),
])
def test_sigma_errors(tiny_sd: Path, tmp_path: Path, arguments: list[str], message: str) -> None:
    result = render(tiny_sd, tmp_path, *arguments)
    assert result.exit_code == 1
    assert message in result.stderr


# -------------------------------------------------------- formats, metadata


@pytest.mark.parametrize("image_format", ["jpg", "webp", "bmp", "tiff", "gif", "tga", "qoi",
                                          "ppm", "jp2", "ico", "pdf"])
def test_image_formats(tiny_sd: Path, tmp_path: Path, image_format: str) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--inference-steps", "1",
       "--image-format", image_format)
    [written] = names(tmp_path)
    assert written == f"s_1_g_5-0_i_1_step_1.{image_format}"
    if image_format != "pdf":
        with Image.open(tmp_path / written) as image:
            assert image.size == (64, 64)


def test_output_config_reproduces_the_image_exactly(tiny_sd: Path, tmp_path: Path,
                                                    media: Path) -> None:
    ok(tiny_sd, tmp_path / "first", "--seeds", "21", "--prompts", "a red circle; blurry",
       "--guidance-scales", "6.5", "--schedulers", "DDIMScheduler",
       "--image-seeds", str(media / "horse1.jpg"), "--output-size", "64",
       "--seed-image-processors", "grayscale", "--output-configs")
    [config] = sorted((tmp_path / "first").glob("*.dgen"))
    text = config.read_text()
    # configs state the config-language version they need, which runs without a warning
    assert text.startswith("#! /usr/bin/env dgenerate --file\n#! dgenerate 5.0.0\n")
    assert config_arguments(text)[0] == str(tiny_sd)
    # run as a script, as a user would: dgenerate --file CONFIG (output path injected)
    result = run_cli("--file", str(config), "--output-path", str(tmp_path / "again"), env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    [image] = sorted((tmp_path / "first").glob("*.png"))
    assert np.array_equal(pixels(image), pixels(tmp_path / "again" / image.name))


def test_png_and_jpeg_metadata(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "png", "--seeds", "2", "--output-metadata")
    with Image.open(next((tmp_path / "png").iterdir())) as image:
        config = image.text["DgenerateConfig"]
    assert "--seeds 2" in config and config_arguments(config)[0] == str(tiny_sd)
    ok(tiny_sd, tmp_path / "jpg", "--seeds", "2", "--output-metadata", "--image-format", "jpg")
    with Image.open(next((tmp_path / "jpg").iterdir())) as image:
        comment = read_user_comment(image)
    assert comment.startswith("#! /usr/bin/env dgenerate --file")
    assert comment.endswith("--image-format jpg\n")
    assert config_arguments(comment) == [*config_arguments(config), "--image-format", "jpg"]


def test_auto1111_metadata(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "9", "--prompts", "a cat; blurry", "--guidance-scales", "7",
       "--output-auto1111-metadata")
    with Image.open(next(tmp_path.iterdir())) as image:
        parameters = image.text["parameters"]
    first, negative, fields = parameters.splitlines()
    assert (first, negative) == ("a cat", "Negative prompt: blurry")
    assert fields.startswith("Steps: 2, Sampler: Euler, CFG scale: 7.0, Seed: 9, Size: 64x64, "
                             "Model: tiny-sd, Version: dgenerate ")


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize(("arguments", "message"), [
    (["--output-size", "70x64"], "the nearest aligned size is 72x64"),
    (["--image-seeds", "x.png", "--image-seed-strengths", "0"], "'0' must be greater than 0"),
    (["--image-seeds", "x.png", "--image-seed-strengths", "1.5"], "'1.5' must be at most 1"),
    (["--image-seed-strengths", "0.5"], "--image-seed-strengths needs --image-seeds"),
    (["--seeds", "1", "--gen-seeds", "2"], "--seeds and --gen-seeds cannot be used together"),
    (["--seeds", "x"], "--seeds: value 'x' is not a whole number"),
    (["--model-type", "sdd"], "unknown model type 'sdd'; did you mean 'sd'"),
    (["--image-seeds", "nothing-here.png"], "'nothing-here.png' does not exist"),
    (["--image-seeds", "a.png;mask=b.png;c.png"], "cannot be mixed with the short form"),
    (["--image-seeds", 'a.png;mask="b.png'], "never closed"),
    (["--model-type", "pix2pix", "--image-seeds", "a.png;control=c.png"],
     "--model-type pix2pix does not take control images (control=)"),
    (["--image-seeds", "latents: a.pt", "--denoising-start", "0.5"],
     "image seed 'latents: a.pt': 'a.pt' does not exist"),
    (["--model-type", "pix2pix", "--image-seeds", "latents: a.pt"],
     "--model-type pix2pix does not take latents inputs (latents:, latents=)"),
    (["--image-format", "pt", "--batch-grid-size", "1x2", "--batch-size", "2"],
     "--batch-grid-size: --image-format pt writes latents; --batch-grid-size works"),
    (["--image-format", "pt", "--post-processors", "flip"],
     "--post-processors: --image-format pt writes latents"),
    (["--model-type", "upscaler-x4", "--image-seeds", "{horse}", "--image-format", "pt"],
     "--model-type upscaler-x4 does not write latents (pt)"),
    (["--denoising-start", "0.6", "--denoising-end", "0.4"],
     "--denoising-start 0.6 must be below --denoising-end 0.4"),
    (["--denoising-end", "0.4", "--schedulers", "UniPCMultistepScheduler"],
     "the scheduler UniPCMultistepScheduler cannot stop and resume part way"),
    (["--denoising-end", "1.5"], "--denoising-end: '1.5' must be between 0 and 1"),
    (["--latents-post-processors", "scale"], "--latents-post-processors work on written latents"),
    (["--latents-processors", "nosuch"], "nosuch"),
    (["--image-seeds", "{kitten};frame-start=20"], "the frame slice starts at frame 20, but "
                                                   "the file has 11 frames"),
    (["--output-metadata", "--image-format", "gif"], "cannot carry metadata"),
    (["--output-metadata", "--output-auto1111-metadata"], "cannot be used together"),
    (["--image-format", "xyz"], "unknown format 'xyz'"),
    (["--device", "gpu"], "'gpu' is not cpu, cuda"),
    (["--device", "cuda"], "no cuda device is available here"),
    (["--batch-size", "0"], "must be at least 1"),
    (["--batch-size", "4", "--batch-grid-size", "1x2"], "cannot hold a batch of 4"),
    (["--seed-image-processors", "flp", "--image-seeds", "{horse}"],
     "unknown image processor 'flp'"),
    (["--post-processors", "flip;sise=3"], "has no argument 'sise'"),
    (["--guidance-rescales", "0.5", "--image-seeds", "{horse}"],
     "--guidance-rescales works only for txt2img"),
    # no "unexpected <Error>" for a user's mistake: each value is checked and named
    (["--seeds", "18446744073709551616"], "'18446744073709551616' is above the limit of "
                                          "18446744073709551615"),
    (["--seeds", "18446744073709551615", "--batch-size", "2"],
     "above the 64-bit limit of 18446744073709551615"),
    (["--guidance-scales", "inf"], "--guidance-scales: 'inf' is not a finite number"),
    (["--guidance-scales", "nan"], "--guidance-scales: 'nan' is not a finite number"),
    (["--clip-skips", "50"], "--clip-skips 50: the text encoder of"),
    (["--output-prefix", "../escape"], "--output-prefix: '../escape' is not a file name part"),
    (["--output-prefix", "a/b"], "is not a file name part"),
    (["--prompts", "<sada-sx: 50> a cat"],
     "'<sada-sx: 50> a cat': <sada-sx: 50>: this version does not implement the prompt "
     "argument 'sada-sx'"),
    (["--prompts", "a cat; <weighter: nothing> blurry"], "unknown prompt weighter 'nothing'"),
    # limits instead of hangs or memory exhaustion
    (["--gen-seeds", "100001"], "--gen-seeds: '100001' is above the limit of 100000"),
    (["--batch-size", "1025"], "--batch-size: '1025' is above the limit of 1024"),
    (["--output-size", "16392"], "has a dimension above the limit of 16384 pixels"),
    (["--image-seeds", "{horse};resize=99999"], "above the limit of 16384 pixels"),
    (["--batch-size", "2", "--batch-grid-size", "1x2000"], "above the limit of 1024"),
    (["--schedulers", "EulerDiscreteSchedular"], "did you mean 'EulerDiscreteScheduler'?"),
])
def test_bad_input_is_one_clear_error(tiny_sd: Path, tmp_path: Path, media: Path,
                                      arguments: list[str], message: str) -> None:
    arguments = [value.format(horse=media / "horse1.jpg", kitten=media / "kitten.gif")
                 for value in arguments]
    result = render(tiny_sd, tmp_path, *arguments)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not tmp_path.exists() or names(tmp_path) == []


@pytest.mark.parametrize(("arguments", "message"), [
    (["--image-seeds", "not_found.png"], "'not_found.png' does not exist"),
    (["--image-seeds", "{horse};"], "it has an empty part (';' at the end, or ';;')"),
    (["--image-seeds", "{horse};;{horse}"], "it has an empty part"),
    (["--image-seeds", "{horse};14"], "the size 14 is not a multiple of 8 (the nearest is 16)"),
    (["--image-seeds", "{folder}"], "is a folder, not an image or a video"),
    (["--post-processors", "flip;sise=2"], "image processor 'flip' has no argument 'sise'"),
    (["--seed-image-processors", "resize;size=axb", "--image-seeds", "{horse}"],
     "image processor 'resize'"),
    (["--schedulers", "NoSuchScheduler"], "'NoSuchScheduler' is not a diffusers scheduler"),
    (["--schedulers", "DDIMScheduler;bogus=1"], "scheduler 'DDIMScheduler' has no argument "
                                                "'bogus'"),
    (["--seeds", "18446744073709551616"], "above the limit"),
    (["--output-size", "60"], "is not aligned to 8 pixels"),
    (["--output-path", "{file}"], "is a file, not a folder"),
    (["--output-path", "{file}/inside"], "is a file, not a folder"),
    (["--image-seeds", "images: {horse}, {horse}", "--batch-size", "3"],
     "--batch-size 3 must be a multiple of the 2 images given to images:"),
    (["--image-seeds", "{horse}", "--seed-image-processors", "flip", "+", "mirror"],
     "2 processor chains separated by '+' were given for 1 input image"),
    (["--image-seeds", "http://[::1/a.png"], "is not a URL that can be downloaded"),
])
def test_dry_run_checks_everything_it_can_without_a_model(tmp_path: Path, media: Path,
                                                          arguments: list[str],
                                                          message: str) -> None:
    """The model does not exist: a dry run never loads it, yet finds every other mistake."""
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "folder").mkdir()
    arguments = [value.format(horse=media / "horse1.jpg", file=tmp_path / "a-file",
                              folder=tmp_path / "folder") for value in arguments]
    # a later --output-path in the arguments replaces the first
    result = run_cli("./no/such/model", "--dry-run", "--output-path", str(tmp_path / "out"),
                     *arguments, env=ENV, cwd=str(tmp_path))
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "unexpected" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()  # a dry run creates nothing


def test_dry_run_of_a_good_command_loads_no_model(tmp_path: Path, media: Path) -> None:
    result = run_cli("./no/such/model", "--dry-run", "--output-path", str(tmp_path / "out"),
                     "--image-seeds", str(media / "horse1.jpg"), "--seeds", "3",
                     "--post-processors", "flip", "--schedulers", "LCMScheduler", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "LCMScheduler_s_3_st_0-8_g_5-0_i_30_step_1.png" in result.stdout


def test_a_real_run_reports_bad_inputs_before_loading_the_model(tmp_path: Path,
                                                                 media: Path) -> None:
    """The model path does not exist, but the mistakes in the inputs are found first."""
    for arguments, message in [
            (["--post-processors", "resize;size=0"], "image processor 'resize'"),
            (["--image-seeds", f"{media / 'horse1.jpg'};;"], "it has an empty part"),
            (["--image-seeds", str(tmp_path / "missing.png")], "does not exist")]:
        result = run_cli("./no/such/model", "--output-path", str(tmp_path / "out"), *arguments,
                         env=ENV)
        assert result.exit_code == 1 and message in result.stderr, result.stderr
        assert "no/such/model" not in result.stderr


def test_model_type_help_lists_the_model_types() -> None:
    for arguments in (["--model-type", "help"], ["some/model", "--model-type", "help"]):
        result = run_cli(*arguments, env=ENV)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("Available model types:")
        assert re.search(r'"sd" +Stable Diffusion 1.x and 2.x.*\(the default\)\n',
                         result.stdout)
        for family in ("sdxl", "sdxl-pix2pix", "kolors", "pix2pix", "upscaler-x2",
                       "upscaler-x4"):
            assert f'"{family}" ' in result.stdout


def test_lcm_scheduler_drives_sd_models(tiny_sd: Path, tmp_path: Path) -> None:
    listed = render(tiny_sd, tmp_path, "--scheduler", "help")
    assert '"LCMScheduler"' in listed.stdout
    ok(tiny_sd, tmp_path, "--seeds", "1", "--schedulers", "LCMScheduler", "--guidance-scales", "1")
    assert names(tmp_path) == ["LCMScheduler_s_1_g_1-0_i_2_step_1.png"]


def test_too_few_steps_for_the_strength_raise_it_to_one_step(tiny_sd: Path, tmp_path: Path,
                                                             media: Path) -> None:
    result = ok(tiny_sd, tmp_path, "--image-seeds", f"{media / 'horse1.jpg'};64", "--seeds",
                "1", "2", "--image-seed-strengths", "0.3")  # 2 steps x 0.3 < 1
    assert result.stderr.count("warning: --inference-steps 2 with --image-seed-strengths 0.3 "
                               "leaves no denoising step") == 1  # once, not per job
    assert "the strength is raised to 0.5, one step" in result.stderr
    assert names(tmp_path) == ["s_1_st_0-3_g_5-0_i_2_step_1.png", "s_2_st_0-3_g_5-0_i_2_step_2.png"]


def test_output_size_wins_over_the_size_of_an_image_seed(tiny_sd: Path, tmp_path: Path,
                                                         media: Path) -> None:
    seed = f"images: {media / 'horse1.jpg'}, {media / 'horse1.jpg'};resize=1024"
    ok(tiny_sd, tmp_path, "--image-seeds", seed, "--output-size", "64", "--seeds", "1")
    sizes = []
    for name in names(tmp_path):
        with Image.open(tmp_path / name) as image:
            sizes.append(image.size)
    assert sizes == [(64, 32), (64, 32)]


def test_an_aspect_correct_resize_beyond_the_size_limit(tiny_sd: Path, tmp_path: Path) -> None:
    Image.new("RGB", (8, 800)).save(tmp_path / "tall.png")
    result = render(tiny_sd, tmp_path / "out", "--image-seeds", f"{tmp_path / 'tall.png'};16384")
    assert result.exit_code == 1
    assert ("resizing the 8x800 input to a width of 16384 keeps its aspect ratio with a height "
            "of 1638400, above the limit of 16384 pixels") in result.stderr


def test_unreadable_image(tiny_sd: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    result = render(tiny_sd, tmp_path / "out", "--image-seeds", str(broken))
    assert result.exit_code == 1
    assert f"cannot read '{broken}': it is neither an image Pillow reads nor a video" in (
        result.stderr)


def test_missing_model_folder(tmp_path: Path) -> None:
    result = run_cli("./no/such/folder", "--output-path", str(tmp_path), env=ENV)
    assert result.exit_code == 1
    assert "the model './no/such/folder' does not exist" in result.stderr


# ----------------------------------------------------------- model variants


def test_v_prediction_model(tmp_path: Path) -> None:
    from .tiny_models import build_sd

    model = build_sd(tmp_path / "v-model", prediction_type="v_prediction")
    ok(model, tmp_path / "out", "--seeds", "1", "--schedulers", "DDIMScheduler", "-v")
    assert names(tmp_path / "out") == ["DDIMScheduler_s_1_g_5-0_i_2_step_1.png"]


def test_dtype_and_safety_checker_flag(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path / "bf16", "--seeds", "1", "--dtype", "bfloat16")
    ok(tiny_sd, tmp_path / "checked", "--seeds", "1", "--safety-checker")  # the model has none
    ok(tiny_sd, tmp_path / "plain", "--seeds", "1")
    plain = pixels(tmp_path / "plain" / "s_1_g_5-0_i_2_step_1.png")
    assert np.array_equal(pixels(tmp_path / "checked" / "s_1_g_5-0_i_2_step_1.png"), plain)
    half = pixels(tmp_path / "bf16" / "s_1_g_5-0_i_2_step_1.png")
    assert not np.array_equal(half, plain) and np.abs(half - plain).mean() < 40


def test_vae_tiling_and_slicing_render(tiny_sd: Path, tmp_path: Path) -> None:
    ok(tiny_sd, tmp_path, "--seeds", "1", "--vae-tiling", "--vae-slicing", "--batch-size", "2")
    assert len(names(tmp_path)) == 2


def test_batched_images_that_end_up_with_different_sizes(tiny_sd: Path, tmp_path: Path,
                                                         media: Path) -> None:
    seed = f"images: {media / 'horse1.jpg'}, {media / 'dog-on-bench.png'};64"
    result = render(tiny_sd, tmp_path, "--image-seeds", seed)
    assert result.exit_code == 1
    assert "the images and masks end up with different sizes (64x32, 64x64)" in result.stderr
    forced = ok(tiny_sd, tmp_path, "--image-seeds", seed.replace(";64", ";resize=64;aspect=false"),
                "--seeds", "1")
    assert forced.stdout.count("wrote ") == 2


def test_original_config_needs_a_single_file(tiny_sd: Path, tmp_path: Path) -> None:
    config = tmp_path / "v1.yaml"
    config.write_text("model: {}\n")
    result = render(tiny_sd, tmp_path / "out", "--original-config", str(config))
    assert result.exit_code == 1
    assert "--original-config applies to single-file checkpoints only" in result.stderr


def test_pre_resize_processors_run_on_the_original(tiny_sd: Path, tmp_path: Path,
                                                   media: Path) -> None:
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    ok(tiny_sd, tmp_path / "out", "--seeds", "1", "--image-seeds", f"{media / 'horse1.jpg'};64",
       "--seed-image-processors", f"flip;pre-resize=true;output-file={before}",
       f"mirror;output-file={after}")
    with Image.open(before) as first, Image.open(after) as second:
        assert first.size == (1279, 719)  # flipped before the resize
        assert second.size == (64, 32)  # mirrored after it
