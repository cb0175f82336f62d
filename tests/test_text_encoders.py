"""--text-encoders: text encoders given by slot, loaded offline into tiny models through the
command line.

The model's own encoder saved by itself gives the picture of no --text-encoders, bit for
bit; another encoder changes it; ``+`` keeps a slot's own encoder; one encoder given to two
models loads once; every mistake is one clear error naming the URI, before anything loads.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.render.loop import render
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

from .support import BUILTIN_ONLY, render_ok
from .tiny_submodels import build_text_encoder_folder

COMMON = ("--seeds", "1", "--prompts", "a horse")
SDXL = ("--model-type", "sdxl", "--output-size", "64")


@dataclasses.dataclass(frozen=True)
class Encoders:
    own: Path  # tiny_sd's own text encoder, saved by itself
    other: Path  # a CLIPTextModel fitting tiny_sd, other weights
    sdxl_own_2: Path  # tiny_sdxl's own text_encoder_2 (CLIPTextModelWithProjection)
    sdxl_other_2: Path  # another CLIPTextModelWithProjection fitting tiny_sdxl


@pytest.fixture(scope="module")
def encoders(tiny_sd: Path, tiny_sdxl: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Encoders:
    root = tmp_path_factory.mktemp("text-encoders")
    return Encoders(
        own=build_text_encoder_folder(tiny_sd, root / "own"),
        other=build_text_encoder_folder(tiny_sd, root / "other", seed=31),
        sdxl_own_2=build_text_encoder_folder(tiny_sdxl, root / "sdxl-own-2",
                                             subfolder="text_encoder_2"),
        sdxl_other_2=build_text_encoder_folder(tiny_sdxl, root / "sdxl-other-2",
                                               subfolder="text_encoder_2", seed=32))


def picture(out: Path) -> np.ndarray:
    (path,) = sorted(out.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def rendered(model: Path, out: Path, *args: str) -> np.ndarray:
    render_ok(model, out, *COMMON, *args)
    return picture(out)


def failure(*args: str) -> str:
    result = run_cli(*args, env=BUILTIN_ONLY)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_sd(tiny_sd: Path, encoders: Encoders, tmp_path: Path) -> None:
    plain = rendered(tiny_sd, tmp_path / "plain")
    own = rendered(tiny_sd, tmp_path / "own", "-te", f"CLIPTextModel;model={encoders.own}")
    subfolder = rendered(tiny_sd, tmp_path / "subfolder", "--text-encoders",
                         f"CLIPTextModel;{tiny_sd};subfolder=text_encoder;dtype=float32")
    kept = rendered(tiny_sd, tmp_path / "kept", "--text-encoders", "+")
    other = rendered(tiny_sd, tmp_path / "other", "-te", f"CLIPTextModel;model={encoders.other}")
    assert np.array_equal(own, plain) and np.array_equal(subfolder, plain)
    assert np.array_equal(kept, plain)
    assert not np.array_equal(other, plain)


def test_sdxl_slots(tiny_sdxl: Path, encoders: Encoders, tmp_path: Path) -> None:
    plain = rendered(tiny_sdxl, tmp_path / "plain", *SDXL)
    own = rendered(tiny_sdxl, tmp_path / "own", *SDXL, "-te", "+",
                   f"CLIPTextModelWithProjection;model={encoders.sdxl_own_2}")
    other = rendered(tiny_sdxl, tmp_path / "other", *SDXL, "-te", "+",
                     f"CLIPTextModelWithProjection;model={encoders.sdxl_other_2}")
    first = rendered(tiny_sdxl, tmp_path / "first", *SDXL, "-te",
                     f"CLIPTextModel;model={encoders.other}")
    assert np.array_equal(own, plain)
    assert not np.array_equal(other, plain) and not np.array_equal(first, plain)
    assert not np.array_equal(first, other)


def test_help_lists_the_slots(tiny_sd: Path, tiny_sdxl: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_sdxl), *SDXL, "--text-encoders", "help", "--output-path",
                     str(tmp_path), env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    assert "0 = CLIPTextModel (text_encoder)" in result.stdout
    assert "1 = CLIPTextModelWithProjection (text_encoder_2)" in result.stdout
    result = run_cli(str(tiny_sd), "-te", "help", "--output-path", str(tmp_path),
                     env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    assert "0 = CLIPTextModel (text_encoder)" in result.stdout
    assert "text_encoder_2" not in result.stdout
    assert not list(tmp_path.glob("*.png"))


def render_in(context: KernelContext, model: Path, out: Path, *args: str) -> np.ndarray:
    parser = build_parser(context.manager)
    arguments = [str(model), *args, *COMMON, "--inference-steps", "2", "--output-path", str(out)]
    render(context, make_plan(context, parser, parser.parse_args(arguments)))
    return picture(out)


def test_one_encoder_loads_once_for_two_models(tiny_sd: Path, encoders: Encoders,
                                               tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_sd, tmp_path / "tiny-sd-copy")
    context = KernelContext(isolated_plugin_manager())
    for model in (tiny_sd, copy):
        render_in(context, model, tmp_path / model.name, "-te",
                  f"CLIPTextModel;model={encoders.other}")
    cache = context.cache("text_encoder")
    assert (cache.misses, len(cache)) == (1, 1)
    pipelines = [entry.value for entry in context.cache("pipeline")._entries.values()]
    assert len(pipelines) == 2 and pipelines[0].text_encoder is pipelines[1].text_encoder


@pytest.mark.parametrize(("values", "expected"), [
    (["ClipTextModel;model=x"], "unknown text encoder class 'ClipTextModel'; did you mean "
                                "'CLIPTextModel'?"),
    (["CLIPTextModel;model=x;revison=main"], "revison"),
    (["CLIPTextModel"], "names no model"),
    (["CLIPTextModel;model=x.safetensors"], "a single-file text encoder needs mode="),
    (["CLIPTextModel;model=x;quantizer=nothing"], "quantizer='nothing'"),
    (["CLIPTextModel;model=x.safetensors;quantizer=nothing"],
     "a single file is quantized only with mode="),
    (["ChatGLMModel;model=x"], "cannot be given yet"),
    (["help", "+"], "takes no other value"),
])
def test_mistakes_are_refused_before_loading(tiny_sd: Path, tmp_path: Path, values: list[str],
                                             expected: str) -> None:
    stderr = failure(str(tiny_sd), "--text-encoders", *values, "--dry-run", "--output-path",
                     str(tmp_path))
    assert "--text-encoders" in stderr and expected in stderr


def test_slots_and_classes_are_checked(tiny_sd: Path, tiny_sdxl: Path, encoders: Encoders,
                                       tmp_path: Path) -> None:
    run = ("--inference-steps", "1", "--output-path", str(tmp_path), *COMMON)
    stderr = failure(str(tiny_sd), *run, "-te", "+", f"CLIPTextModel;model={encoders.own}")
    assert "2 text encoders given" in stderr and "1 text encoder slot (text_encoder)" in stderr
    stderr = failure(str(tiny_sdxl), *SDXL, *run, "-te", "+",
                     f"CLIPTextModel;model={encoders.own}")
    assert "the slot text_encoder_2 (entry 2) of the sdxl model type takes a " \
           "CLIPTextModelWithProjection, not a CLIPTextModel" in stderr
    stderr = failure(str(tiny_sd), *run, "-te", "null")
    assert "cannot empty the slot text_encoder" in stderr
    stderr = failure(str(tiny_sd), *run, "-te", f"CLIPTextModel;model={tiny_sd}")
    assert "add subfolder=text_encoder" in stderr
    stderr = failure(str(tiny_sd), *run, "-te",
                     f"CLIPTextModel;model={encoders.sdxl_own_2}")
    assert "holds a CLIPTextModelWithProjection, not a CLIPTextModel" in stderr
    assert not list(tmp_path.glob("*.png"))


def test_loras_change_a_copy_of_a_shared_encoder(tiny_sd: Path, encoders: Encoders,
                                                 tiny_sd_loras: dict[str, Path],
                                                 tmp_path: Path) -> None:
    pytest.importorskip("peft")
    uri = f"CLIPTextModel;model={encoders.other}"
    alone = rendered(tiny_sd, tmp_path / "alone", "-te", uri)
    context = KernelContext(isolated_plugin_manager())
    with_lora = render_in(context, tiny_sd, tmp_path / "lora", "-te", uri, "--loras",
                          str(tiny_sd_loras["peft"]))
    copy = shutil.copytree(tiny_sd, tmp_path / "tiny-sd-copy")
    after = render_in(context, copy, tmp_path / "after", "-te", uri)
    assert not np.array_equal(with_lora, alone)
    assert np.array_equal(after, alone)  # the cached encoder has no LoRA in it


def test_the_sdxl_refiner_takes_text_encoders(tiny_sdxl: Path, tiny_sdxl_refiner: Path,
                                              tmp_path: Path) -> None:
    root = tmp_path / "encoders"
    own = build_text_encoder_folder(tiny_sdxl_refiner, root / "own", subfolder="text_encoder_2")
    other = build_text_encoder_folder(tiny_sdxl_refiner, root / "other",
                                      subfolder="text_encoder_2", seed=33)
    refined = (*SDXL, "--sdxl-refiner", str(tiny_sdxl_refiner))
    plain = rendered(tiny_sdxl, tmp_path / "plain", *refined)
    same = rendered(tiny_sdxl, tmp_path / "own", *refined, "-te2",
                    f"CLIPTextModelWithProjection;model={own}")
    changed = rendered(tiny_sdxl, tmp_path / "other", *refined,
                       "--second-model-text-encoders",
                       f"CLIPTextModelWithProjection;model={other}")
    kept = rendered(tiny_sdxl, tmp_path / "kept", *refined, "-te2", "+")
    assert np.array_equal(same, plain) and np.array_equal(kept, plain)
    assert not np.array_equal(changed, plain)
    # the refiner has one text encoder (its model_index.json leaves text_encoder empty)
    result = run_cli(str(tiny_sdxl), *refined, "-te2", "help", "--output-path",
                     str(tmp_path / "help"), env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    assert "0 = CLIPTextModelWithProjection (text_encoder_2)" in result.stdout
    assert "(text_encoder)" not in result.stdout
    run = (*COMMON, "--inference-steps", "1", "--output-path", str(tmp_path / "bad"))
    stderr = failure(str(tiny_sdxl), *refined, *run, "-te2", f"CLIPTextModel;model={own}")
    assert "--second-model-text-encoders" in stderr and "takes a CLIPTextModelWithProjection" \
        in stderr
    stderr = failure(str(tiny_sdxl), *refined, *run, "-te2", "+", f"CLIPTextModel;model={own}")
    assert "2 text encoders given" in stderr and "sdxl refiner" in stderr
    stderr = failure(str(tiny_sdxl), *SDXL, *run, "-te2", "+")
    assert "--second-model-text-encoders needs --sdxl-refiner" in stderr


QUANTIZER = """
from typing import Annotated

from dgenerate.plugin_api import Arg, Quantizer, QuantizerSpec, hookimpl


class Int8(Quantizer):
    \"\"\"SDNQ int8 weights (diffusers' config object serves transformers too).\"\"\"

    def __init__(self, device: Annotated[str, Arg(hidden=True)] = ""):
        self.device = device

    def diffusers_config(self):
        return None

    def transformers_config(self):
        from diffusers import SDNQConfig

        return SDNQConfig(weights_dtype="int8", minimum_allowed_numel=0,
                          minimum_allowed_channel_size=0)


@hookimpl
def dgenerate_quantizers():
    yield QuantizerSpec(name="int8", summary="SDNQ int8.", target=":Int8")
"""


def test_a_quantizer_for_a_folder_text_encoder(tiny_sd: Path, encoders: Encoders,
                                               tmp_path: Path) -> None:
    pytest.importorskip("sdnq")
    plugin = tmp_path / "int8.py"
    plugin.write_text(QUANTIZER)
    env = {**BUILTIN_ONLY, "SDNQ_USE_TORCH_COMPILE": "0", "SDNQ_USE_OPENVINO_MM": "0"}
    other = rendered(tiny_sd, tmp_path / "other", "-te", f"CLIPTextModel;model={encoders.other}")
    result = run_cli("--plugin-modules", str(plugin), str(tiny_sd), *COMMON, "-v",
                     "--inference-steps", "2", "--output-path", str(tmp_path / "int8"), "-te",
                     f"CLIPTextModel;model={encoders.other};quantizer=int8", env=env)
    assert result.exit_code == 0, result.stderr
    quantized = picture(tmp_path / "int8").astype(int)
    # int8 weights: close to the unquantized encoder's picture, yet not the same
    assert not np.array_equal(quantized, other) and np.abs(quantized - other).mean() < 8
