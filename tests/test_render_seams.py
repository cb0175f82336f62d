"""The render seams, driven by third-party test plugins: prompt weighter, pipeline extension
with its own option, render options, quantizer and job executor.

The plugins below are written into a temporary folder and loaded with ``--plugin-modules``,
as a user's would be. They record what the kernel asks of them, one line per call, in the
file named by the ``SEAM_LOG`` environment variable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

from .support import BUILTIN_ONLY, names

SEAMS = '''
"""Test plugins for every render seam."""

import os
from typing import Annotated

from dgenerate.plugin_api import (
    Arg, Capabilities, JobExecutor, JobExecutorSpec, Mode, ModelType, ModelTypeSpec,
    OptionSpec, PipelineExtension, PipelineExtensionSpec, PromptWeighter, PromptWeighterSpec,
    Quantizer, QuantizerSpec, RenderOutput, Size, hookimpl)


def log(line):
    with open(os.environ["SEAM_LOG"], "a") as file:
        file.write(line + "\\n")


class Swap(PromptWeighter):
    """Encodes another prompt than the one given (a weighter replaces prompts by embeddings)."""

    def __init__(self, prompt: str = "a blue square",
                 model_type: Annotated[str, Arg(hidden=True)] = ""):
        self.prompt = prompt
        self.model_type = model_type

    def translate(self, pipeline, call_args):
        import torch

        args = dict(call_args)
        count = len(args.pop("prompt"))
        negative = args.pop("negative_prompt", None)
        with torch.no_grad():
            positive, negative = pipeline.encode_prompt(
                [self.prompt] * count, pipeline._execution_device, 1,
                args["guidance_scale"] > 1, negative_prompt=negative,
                clip_skip=args.get("clip_skip"))
        log(f"translate {self.model_type} {count}")
        return {**args, "prompt_embeds": positive, "negative_prompt_embeds": negative}

    def cleanup(self):
        log("cleanup")


class MyEta(PipelineExtension):
    """Passes --my-eta-values to the pipeline call; 13 makes the call fail."""

    def apply(self, pipeline, arguments, job):
        value = job.values["my_eta_values"]
        log(f"apply {value} job {job.number}")
        arguments = {**arguments, "eta": value}
        if value == 13:
            arguments["height"] = 60  # not a multiple of 8: the call raises
        return arguments

    def remove(self, pipeline):
        log("remove")


COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), None: (0, 0, 255)}


class Probe(ModelType):
    """Renders one color per --my-flavors value, in phases, without a model."""

    def default_size(self):
        return Size(16, 8)

    def load_key(self, job):
        return ("probe", self.source.path)

    def load(self, job):
        log("load")
        return object()

    def call_arguments(self, job, pipeline):
        return {"flavor": job.values["my_flavors"]}

    def call(self, job, pipeline, arguments):
        from PIL import Image

        log(f"call {arguments['flavor']}")
        return RenderOutput([Image.new("RGB", (job.width, job.height), COLORS[arguments["flavor"]])
                             for _ in job.seeds])


class OneStep(ModelType):
    """Renders in one step: weighters and extensions cannot act on it."""

    def default_size(self):
        return Size(8, 8)

    def render(self, job):
        from PIL import Image

        return RenderOutput([Image.new("RGB", (job.width, job.height)) for _ in job.seeds])


class Recorder(Quantizer):
    """Records what the loader asks; quantizes the UNet to int8 with SDNQ when real=true."""

    def __init__(self, real: bool = False, device: Annotated[str, Arg(hidden=True)] = ""):
        self.real = real
        log(f"quantizer device={device}")

    def diffusers_config(self):
        log("diffusers_config")
        if not self.real:
            return None
        from diffusers import SDNQConfig

        # the tiny test model's layers are below SDNQ's default size limits
        return SDNQConfig(weights_dtype="int8", minimum_allowed_numel=0,
                          minimum_allowed_channel_size=0)

    def transformers_config(self):
        log("transformers_config")
        return None


class Reverse(JobExecutor):
    """Runs the jobs last first."""

    def execute(self, jobs, run_job):
        for job in reversed(list(jobs)):
            log(f"run {job.number}")
            run_job(job)


@hookimpl
def dgenerate_prompt_weighters():
    yield PromptWeighterSpec(name="swap", summary="Encode another prompt.", target=":Swap")


@hookimpl
def dgenerate_pipeline_extensions():
    yield PipelineExtensionSpec(
        name="my-eta", summary="Pass eta to the call.", target=":MyEta", model_types=("sd",),
        options=(OptionSpec(flags=("--my-eta-values",), type=float, axis=True, token="eta",
                            metavar="FLOAT", help="DDIM eta values to try."),))


@hookimpl
def dgenerate_render_options():
    yield OptionSpec(flags=("--my-flavors",), axis=True, token="fl", model_types=("probe",),
                     choices=("red", "green"), help="Flavors to try.")


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(name="probe", summary="Colors, in phases.", target=":Probe",
                        capabilities=Capabilities(modes={Mode.TXT2IMG}))
    yield ModelTypeSpec(name="one-step", summary="Black, in one step.", target=":OneStep",
                        capabilities=Capabilities(modes={Mode.TXT2IMG}))


@hookimpl
def dgenerate_quantizers():
    yield QuantizerSpec(name="recorder", summary="Record the loader's questions.",
                        target=":Recorder")


@hookimpl
def dgenerate_job_executors():
    yield JobExecutorSpec(name="reverse", summary="Run the jobs last first.", target=":Reverse")
'''


@pytest.fixture(scope="module")
def seams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plugins") / "seams.py"
    path.write_text(SEAMS)
    return path


class Seams:
    """Runs dgenerate with the seams plugin and reads what it recorded."""

    def __init__(self, plugin: Path, folder: Path) -> None:
        self.plugin = plugin
        self.log = folder / "seam.log"

    def run(self, *args: str, env: dict[str, str] | None = None):
        self.log.unlink(missing_ok=True)
        return run_cli("--plugin-modules", str(self.plugin), *args,
                       env={**BUILTIN_ONLY, "SEAM_LOG": str(self.log), **(env or {})})

    def ok(self, *args: str, env: dict[str, str] | None = None):
        result = self.run(*args, env=env)
        assert result.exit_code == 0, result.stderr
        return result

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def seam(seams: Path, tmp_path_factory: pytest.TempPathFactory) -> Seams:
    return Seams(seams, tmp_path_factory.mktemp("log"))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def quick(model: Path, out: Path, *args: str) -> list[str]:
    return [str(model), "--output-path", str(out), "--inference-steps", "2", "--seeds", "1",
            *args]


NAME = "s_1_g_5-0_i_2_step_1.png"

# ------------------------------------------------------------ prompt weighter


def test_a_weighter_replaces_the_prompt(seam: Seams, tiny_sd: Path, tmp_path: Path) -> None:
    seam.ok(*quick(tiny_sd, tmp_path / "weighted", "--prompts", "a red circle; blurry",
                   "--batch-size", "2", "--prompt-weighter", "swap;prompt=a green triangle"))
    assert seam.calls == ["translate sd 2", "cleanup"]
    seam.ok(*quick(tiny_sd, tmp_path / "plain", "--prompts", "a green triangle; blurry",
                   "--batch-size", "2"))
    seam.ok(*quick(tiny_sd, tmp_path / "asked", "--prompts", "a red circle; blurry",
                   "--batch-size", "2"))
    for image in ("s_1_g_5-0_i_2_step_1_image_1.png", "s_1_g_5-0_i_2_step_1_image_2.png"):
        weighted = pixels(tmp_path / "weighted" / image)
        assert np.array_equal(weighted, pixels(tmp_path / "plain" / image))
        assert not np.array_equal(weighted, pixels(tmp_path / "asked" / image))


def test_a_weighter_is_cleaned_up_when_the_call_fails(seam: Seams, tiny_sd: Path,
                                                      tmp_path: Path) -> None:
    result = seam.run(*quick(tiny_sd, tmp_path, "--prompt-weighter", "swap",
                             "--my-eta-values", "13"))
    assert result.exit_code == 1
    assert seam.calls == ["translate sd 1", "apply 13.0 job 1", "remove", "cleanup"]


def test_a_weighter_is_refused_by_a_model_type_that_renders_in_one_step(
        seam: Seams, tmp_path: Path) -> None:
    result = seam.run("model", "--model-type", "one-step", "--output-path", str(tmp_path),
                      "--prompt-weighter", "swap")
    assert result.exit_code == 1
    assert ("--prompt-weighter cannot act on --model-type one-step: it renders in one step"
            in result.stderr)
    assert names(tmp_path) == [] and seam.calls == []
    seam.ok("model", "--model-type", "one-step", "--output-path", str(tmp_path), "--seeds", "1")
    assert names(tmp_path) == ["s_1_g_5-0_i_30_step_1.png"]


# ---------------------------------------------------------- pipeline extension


def test_an_extension_option_is_a_grid_axis_with_a_token(seam: Seams, tiny_sd: Path,
                                                         tmp_path: Path) -> None:
    seam.ok(*quick(tiny_sd, tmp_path, "--schedulers", "DDIMScheduler",
                   "--my-eta-values", "0", "1"))
    assert seam.calls == ["apply 0.0 job 1", "remove", "apply 1.0 job 2", "remove"]
    first, second = names(tmp_path)
    assert first == "DDIMScheduler_s_1_g_5-0_i_2_eta_0-0_step_1.png"
    assert second == "DDIMScheduler_s_1_g_5-0_i_2_eta_1-0_step_2.png"
    # eta reached the call: DDIM adds fresh noise when it is above 0
    assert not np.array_equal(pixels(tmp_path / first), pixels(tmp_path / second))


def test_an_extension_is_removed_when_the_call_raises(seam: Seams, tiny_sd: Path,
                                                      tmp_path: Path) -> None:
    result = seam.run(*quick(tiny_sd, tmp_path, "--my-eta-values", "0.5", "13"))
    assert result.exit_code == 1
    assert "have to be divisible by 8 but are 60" in result.stderr
    assert seam.calls == ["apply 0.5 job 1", "remove", "apply 13.0 job 2", "remove"]
    assert len(names(tmp_path)) == 1  # the first job's image


def test_an_extension_is_not_applied_to_jobs_without_its_option(seam: Seams, tiny_sd: Path,
                                                                tmp_path: Path) -> None:
    seam.ok(*quick(tiny_sd, tmp_path))
    assert seam.calls == []


def test_extension_options_in_scripts_configs_and_help(seam: Seams, tiny_sd: Path,
                                                       tmp_path: Path) -> None:
    script = tmp_path / "eta.dgen"
    script.write_text(f"{' '.join(quick(tiny_sd, tmp_path / 'out', '--my-eta-values', '0.25'))}"
                      " --output-configs\n\\print {{ last_my_eta_values }}\n")
    result = seam.ok("--file", str(script))
    assert result.stdout.splitlines()[-1] == "[0.25]"
    [config] = (tmp_path / "out").glob("*.dgen")
    assert "--my-eta-values 0.25" in config.read_text().splitlines()
    listing = seam.ok("--help")
    section = listing.stdout.split("\noptions of 'seams':\n")[1]
    assert section.lstrip().startswith("--my-eta-values FLOAT [FLOAT ...]")
    assert "--my-flavors" in section
    assert "DDIM eta values to try. (model types: sd)" in " ".join(section.split())


def test_an_extension_option_does_not_apply_to_other_model_types(seam: Seams,
                                                                  tmp_path: Path) -> None:
    result = seam.run("model", "--model-type", "probe", "--output-path", str(tmp_path),
                      "--my-eta-values", "1")
    assert result.exit_code == 1
    assert "--my-eta-values does not apply to --model-type probe; it applies to sd" in (
        result.stderr)


# -------------------------------------------------------------- render option


def test_a_render_option_reaches_the_model_type(seam: Seams, tmp_path: Path) -> None:
    seam.ok("model", "--model-type", "probe", "--output-path", str(tmp_path), "--seeds", "1",
            "--my-flavors", "red", "green")
    assert seam.calls == ["load", "call red", "call green"]
    red, green = "s_1_g_5-0_i_30_fl_red_step_1.png", "s_1_g_5-0_i_30_fl_green_step_2.png"
    assert names(tmp_path) == [green, red]
    assert pixels(tmp_path / red)[0, 0].tolist() == [255, 0, 0]
    assert pixels(tmp_path / green).shape == (8, 16, 3)
    assert pixels(tmp_path / green)[0, 0].tolist() == [0, 255, 0]
    refused = seam.run("model", "--model-type", "probe", "--output-path", str(tmp_path),
                       "--my-flavors", "blue")
    assert refused.exit_code == 1 and "--my-flavors: 'blue' is not one of red, green" in (
        refused.stderr)
    elsewhere = seam.run("model", "--output-path", str(tmp_path), "--my-flavors", "red")
    assert "--my-flavors does not apply to --model-type sd; it applies to probe" in (
        elsewhere.stderr)


def test_a_render_option_not_given_is_none(seam: Seams, tmp_path: Path) -> None:
    seam.ok("model", "--model-type", "probe", "--output-path", str(tmp_path), "--seeds", "1")
    assert seam.calls == ["load", "call None"]
    assert names(tmp_path) == ["s_1_g_5-0_i_30_step_1.png"]


# ------------------------------------------------------------------ quantizer


def test_the_quantizer_is_asked_while_loading(seam: Seams, tiny_sd: Path,
                                              tmp_path: Path) -> None:
    seam.ok(*quick(tiny_sd, tmp_path / "recorded", "--quantizer", "recorder"))
    # one question per quantizable component of StableDiffusionPipeline: unet, text_encoder
    assert sorted(seam.calls) == ["diffusers_config", "quantizer device=cpu",
                                  "transformers_config"]
    seam.ok(*quick(tiny_sd, tmp_path / "plain"))
    assert np.array_equal(pixels(tmp_path / "recorded" / NAME), pixels(tmp_path / "plain" / NAME))


def test_a_real_quantization_on_the_cpu(seam: Seams, tiny_sd: Path, tmp_path: Path) -> None:
    pytest.importorskip("sdnq")
    # eager kernels (read when sdnq is imported): no torch.compile, slow on the CPU, and no
    # probe for OpenVINO, which warns when it is missing
    result = seam.ok(*quick(tiny_sd, tmp_path / "int8", "--quantizer", "recorder;real=true",
                            "-v"), env={"SDNQ_USE_TORCH_COMPILE": "0", "SDNQ_USE_OPENVINO_MM": "0"})
    assert "diffusers_config" in seam.calls
    assert "'recorder;real=true'" in result.stderr  # part of the pipeline's cache key
    seam.ok(*quick(tiny_sd, tmp_path / "plain"))
    quantized, plain = pixels(tmp_path / "int8" / NAME), pixels(tmp_path / "plain" / NAME)
    # int8 weights: close to the original, yet not the same
    assert not np.array_equal(quantized, plain) and np.abs(quantized - plain).mean() < 8
    # the img2img pipeline made from the quantized one keeps its quantized modules (diffusers'
    # from_pipe would cast them to float32, which quantized modules refuse)
    seed = ("--image-seeds", str(Path(__file__).parent.parent / "examples/media/horse1.jpg")
            + ";64")
    seam.ok(*quick(tiny_sd, tmp_path / "int8-img2img", "--quantizer", "recorder;real=true",
                   *seed), env={"SDNQ_USE_TORCH_COMPILE": "0", "SDNQ_USE_OPENVINO_MM": "0"})
    seam.ok(*quick(tiny_sd, tmp_path / "plain-img2img", *seed))
    (edited,) = names(tmp_path / "int8-img2img")
    quantized = pixels(tmp_path / "int8-img2img" / edited)
    plain = pixels(tmp_path / "plain-img2img" / edited)
    assert not np.array_equal(quantized, plain) and np.abs(quantized - plain).mean() < 8


# --------------------------------------------------------------- job executor


def test_a_job_executor_runs_every_job_once(seam: Seams, tiny_sd: Path, tmp_path: Path) -> None:
    grid = ("--seeds", "1", "2", "--prompts", "a red circle", "a blue square")
    seam.ok(*quick(tiny_sd, tmp_path / "reverse", "--job-executor", "reverse", *grid))
    assert seam.calls == ["run 4", "run 3", "run 2", "run 1"]
    seam.ok(*quick(tiny_sd, tmp_path / "local", "--job-executor", "local", *grid))
    assert seam.calls == []
    assert names(tmp_path / "reverse") == names(tmp_path / "local")
    assert len(names(tmp_path / "local")) == 4
    for name in names(tmp_path / "local"):
        assert np.array_equal(pixels(tmp_path / "reverse" / name),
                              pixels(tmp_path / "local" / name))


# ------------------------------------------------------------ unknown names


@pytest.mark.parametrize(("option", "message"), [
    ("--job-executor", "unknown job executor 'nope'"),
    ("--prompt-weighter", "unknown prompt weighter 'nope'"),
    ("--quantizer", "unknown quantizer 'nope'"),
])
def test_an_unknown_plugin_name_is_refused_before_loading(tmp_path: Path, option: str,
                                                          message: str) -> None:
    result = run_cli("./no/such/model", "--output-path", str(tmp_path / "out"), option, "nope",
                     env=BUILTIN_ONLY)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "no/such/model" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_uri_arguments_of_the_seams_are_checked_before_loading(seam: Seams,
                                                               tmp_path: Path) -> None:
    result = seam.run("./no/such/model", "--output-path", str(tmp_path),
                      "--prompt-weighter", "swap;promt=x")
    assert result.exit_code == 1
    assert "prompt weighter 'swap' has no argument 'promt'" in result.stderr
    assert seam.calls == []



def test_the_other_modes_keep_the_dtype_of_the_shared_modules(tiny_sd: Path,
                                                              tmp_path: Path) -> None:
    import torch

    from dgenerate.kernel.cli.commands import make_plan
    from dgenerate.kernel.cli.parser import build_parser
    from dgenerate.kernel.plugins.context import KernelContext
    from dgenerate.kernel.render.loop import render
    from dgenerate.plugin_api.testing import isolated_plugin_manager

    context = KernelContext(isolated_plugin_manager())
    parser = build_parser(context.manager)
    seed = str(Path(__file__).parent.parent / "examples/media/horse1.jpg") + ";64"
    for out, extra in (("txt2img", ()), ("img2img", ("--image-seeds", seed))):
        arguments = quick(tiny_sd, tmp_path / out, "--dtype", "bfloat16", *extra)
        render(context, make_plan(context, parser, parser.parse_args(arguments)))
    pipelines = [entry.value for entry in context.cache("pipeline")._entries.values()]
    assert len(pipelines) == 2 and pipelines[0].unet is pipelines[1].unet
    # diffusers' from_pipe alone would have cast the shared UNet to float32
    assert pipelines[0].unet.dtype == torch.bfloat16
