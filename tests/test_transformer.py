"""--transformer, and single-file SD3 and Flux checkpoints, on tiny models through the CLI.

Another transformer changes the picture; the same weights, however given (a folder, a
file in the diffusers or the original layout, inside a whole-model file, a Hugging Face
repository or blob link from the local cache, a URL), give the same picture bit for
bit; a single-file SD3 checkpoint gives the picture of its diffusers folder; every
mistake is one clear error naming what to change.
"""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.render.loop import render
from dgenerate.plugin_api.testing import check_model_type, isolated_plugin_manager, run_cli

from .source_fixtures import FileServer, hub_cache_entry, serve
from .support import BUILTIN_ONLY
from .tiny_transformers import (
    build_sd3_for_single_file,
    build_sd3_single_file,
    build_transformer_file,
    build_transformer_folder,
    sd3_to_original,
)

SD3_CONFIGS = "stabilityai/stable-diffusion-3-medium-diffusers"
FLUX_CONFIGS = "black-forest-labs/FLUX.1-dev"


@dataclasses.dataclass(frozen=True)
class Models:
    sd3: Path  # the tiny SD3 folder
    flux: Path  # the tiny Flux folder
    sd3_other: Path  # a transformer folder that fits sd3, other weights
    sd3_file: Path  # the same weights, one file, diffusers layout
    sd3_original: Path  # the same weights, Stability's original layout
    sd3_whole: Path  # the same weights under model.diffusion_model. (original layout)
    sd3_prefixed: Path  # the same weights under transformer. (diffusers layout)
    flux_other: Path  # a transformer folder that fits flux
    flux_file: Path  # the same weights, one file (diffusers layout)
    single: Path  # an SD3 folder whose parts one original-layout file can tell apart
    single_file: Path  # that model as one original-layout checkpoint
    no_embedding: Path  # the same, without the T5 input embedding


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    from .tiny_flux import build_flux
    from .tiny_sd3 import build_sd3

    root = tmp_path_factory.mktemp("transformers")
    sd3, flux = build_sd3(root / "sd3"), build_flux(root / "flux")
    sd3_other = build_transformer_folder(sd3, root / "sd3-other", seed=21)
    flux_other = build_transformer_folder(flux, root / "flux-other", seed=22)
    single = build_sd3_for_single_file(root / "sd3-single")
    return Models(
        sd3=sd3, flux=flux, sd3_other=sd3_other,
        sd3_file=build_transformer_file(sd3_other, root / "sd3-other.safetensors"),
        sd3_original=build_transformer_file(sd3_other, root / "sd3-original.safetensors",
                                            layout="original"),
        sd3_whole=build_transformer_file(sd3_other, root / "sd3-whole.safetensors",
                                         layout="original", prefix="model.diffusion_model."),
        sd3_prefixed=build_transformer_file(sd3_other, root / "sd3-prefixed.safetensors",
                                            prefix="transformer."),
        flux_other=flux_other,
        flux_file=build_transformer_file(flux_other, root / "flux-other.safetensors"),
        single=single,
        single_file=build_sd3_single_file(single, root / "sd3-single.safetensors"),
        no_embedding=build_sd3_single_file(
            single, root / "sd3-no-embedding.safetensors",
            leave_out=("text_encoders.t5xxl.transformer.encoder.embed_tokens.weight",)))


def _configs(model: Path) -> dict[str, Path]:
    """A pipeline's configuration files without its weights: what from_single_file reads
    from the hub cache."""
    return {path.relative_to(model).as_posix(): path for path in sorted(model.rglob("*"))
            if path.is_file() and not path.name.endswith((".safetensors", ".bin"))}


@pytest.fixture
def hub(models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local Hugging Face cache (used in process): the transformer repository
    ``tester/tiny-sd3-transformer`` (a ``transformer/`` folder and a file), a whole tiny
    SD3 repository, and the configuration files of the repositories single files take
    their configuration from."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-home" / "hub"
    hub_cache_entry(cache, "tester/tiny-sd3-transformer", {"main": {
        **{f"transformer/{name}": path for name, path in _configs(models.sd3_other).items()},
        "transformer/diffusion_pytorch_model.safetensors":
            models.sd3_other / "diffusion_pytorch_model.safetensors",
        "sd3-transformer.safetensors": models.sd3_original}})
    hub_cache_entry(cache, "tester/tiny-flux-transformer", {"main": models.flux_other})
    hub_cache_entry(cache, SD3_CONFIGS, {"main": _configs(models.single)})
    hub_cache_entry(cache, FLUX_CONFIGS, {"main": _configs(models.flux)})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    yield from serve()


def picture(out: Path) -> np.ndarray:
    (path,) = sorted(out.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def rendered(model: Path, model_type: str, out: Path, *args: str,
             env: dict[str, str] | None = None) -> np.ndarray:
    result = run_cli(str(model), "--model-type", model_type, "--output-path", str(out),
                     "--inference-steps", "2", "--seeds", "1", "--prompts", "a horse", *args,
                     env={**BUILTIN_ONLY, **(env or {})})
    assert result.exit_code == 0, result.stderr
    return picture(out)


def failure(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli(*args, "--inference-steps", "2", "--prompts", "a horse",
                     env={**BUILTIN_ONLY, **(env or {})})
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


# ------------------------------------------------------------------- the writer


def test_the_original_layout_writer_is_the_inverse_of_diffusers_reader(models: Models) -> None:
    import torch
    from diffusers.loaders.single_file_utils import (
        convert_sd3_transformer_checkpoint_to_diffusers,
    )
    from safetensors.torch import load_file

    state = load_file(str(models.sd3_other / "diffusion_pytorch_model.safetensors"))
    back = convert_sd3_transformer_checkpoint_to_diffusers(sd3_to_original(state))
    assert back.keys() == state.keys()
    assert all(torch.equal(back[key], value) for key, value in state.items())


# ------------------------------------------------------------------- sources


def test_every_source_of_one_sd3_transformer_gives_one_picture(
        models: Models, hub: Path, tmp_path: Path, server: FileServer) -> None:
    plain = rendered(models.sd3, "sd3", tmp_path / "plain")
    folder = rendered(models.sd3, "sd3", tmp_path / "folder", "--transformer",
                      str(models.sd3_other))
    assert not np.array_equal(plain, folder)
    blob = ("https://huggingface.co/tester/tiny-sd3-transformer/blob/main/"
            "sd3-transformer.safetensors")
    for name, uri in {"file": str(models.sd3_file),
                      "original": f"{models.sd3_original};dtype=float32",
                      "whole": str(models.sd3_whole),
                      "prefixed": str(models.sd3_prefixed),
                      "hub": "tester/tiny-sd3-transformer;subfolder=transformer",
                      "blob": f"{blob};revision=main"}.items():
        assert np.array_equal(rendered(models.sd3, "sd3", tmp_path / name, "--transformer",
                                       uri, "--offline-mode"), folder), name
    url = server.add("/transformers/sd3.safetensors", models.sd3_file)
    cache = {"DGENERATE_CACHE": str(tmp_path / "cache")}
    assert np.array_equal(rendered(models.sd3, "sd3", tmp_path / "url", "--transformer", url,
                                   env=cache), folder)
    assert server.hits["/transformers/sd3.safetensors"] == 1


def test_every_source_of_one_flux_transformer_gives_one_picture(
        models: Models, hub: Path, tmp_path: Path) -> None:
    plain = rendered(models.flux, "flux", tmp_path / "plain")
    folder = rendered(models.flux, "flux", tmp_path / "folder", "--transformer",
                      str(models.flux_other))
    assert not np.array_equal(plain, folder)
    for name, uri in {"file": f"{models.flux_file};dtype=float32",
                      "hub": "tester/tiny-flux-transformer"}.items():
        assert np.array_equal(rendered(models.flux, "flux", tmp_path / name, "--transformer",
                                       uri, "--offline-mode"), folder), name


def test_variants(models: Models, tmp_path: Path) -> None:
    # the same weights as sd3_other (same seed), saved as the fp16 variant only
    only = build_transformer_folder(models.sd3, tmp_path / "fp16-only", seed=21,
                                    variant="fp16")
    folder = rendered(models.sd3, "sd3", tmp_path / "folder", "--transformer",
                      str(models.sd3_other))
    for name, args in {"uri": ("--transformer", f"{only};variant=fp16"),
                       "model": ("--transformer", str(only), "--variant", "fp16")}.items():
        assert np.array_equal(rendered(models.sd3, "sd3", tmp_path / name, *args), folder)
    stderr = failure(str(models.sd3), "--model-type", "sd3", "--output-path", str(tmp_path),
                     "--transformer", str(only))
    assert "has only the weights of the variant 'fp16': give variant=fp16" in stderr
    # --variant for the model, plain weights for the transformer: variant=null
    plain = rendered(models.sd3, "sd3", tmp_path / "null", "--variant", "fp16",
                     "--transformer", f"{models.sd3_other};variant=null")
    assert np.array_equal(plain, folder)


def test_the_models_own_transformer_changes_nothing(models: Models, tmp_path: Path) -> None:
    plain = rendered(models.sd3, "sd3", tmp_path / "plain")
    own = rendered(models.sd3, "sd3", tmp_path / "own", "--transformer",
                   f"{models.sd3};subfolder=transformer")
    assert np.array_equal(plain, own)


def render_in(context: KernelContext, model: Path, out: Path, *args: str) -> np.ndarray:
    """Render in ``context``, whose object caches outlive the render."""
    parser = build_parser(context.manager)
    arguments = [str(model), "--model-type", "sd3", *args, "--seeds", "1", "--prompts",
                 "a horse", "--inference-steps", "2", "--output-path", str(out)]
    render(context, make_plan(context, parser, parser.parse_args(arguments)))
    return picture(out)


def test_one_transformer_loads_once_for_two_models(models: Models, tmp_path: Path) -> None:
    copy = shutil.copytree(models.sd3, tmp_path / "sd3-copy")
    context = KernelContext(isolated_plugin_manager())
    for uri in (models.sd3_other, models.sd3_file):
        for model in (models.sd3, copy):
            render_in(context, model, tmp_path / f"{model.name}-{uri.name}", "--transformer",
                      str(uri))
    cache = context.cache("transformer")
    assert (cache.misses, len(cache)) == (2, 2)
    pipelines = [entry.value for entry in context.cache("pipeline")._entries.values()]
    assert len({id(pipeline) for pipeline in pipelines}) == 4
    assert pipelines[0].transformer is pipelines[1].transformer
    assert pipelines[0].transformer is not pipelines[2].transformer


def test_loras_are_fused_into_a_copy_of_the_transformer(models: Models,
                                                        tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from .tiny_sd3 import build_sd3_lora

    lora = build_sd3_lora(models.sd3, tmp_path / "lora", std=1.0)
    context = KernelContext(isolated_plugin_manager())
    alone = render_in(context, models.sd3, tmp_path / "alone", "--transformer",
                      str(models.sd3_other))
    with_lora = render_in(context, models.sd3, tmp_path / "lora-out", "--transformer",
                          str(models.sd3_other), "--loras", str(lora))
    copy = shutil.copytree(models.sd3, tmp_path / "sd3-copy")
    after = render_in(context, copy, tmp_path / "after", "--transformer", str(models.sd3_other))
    assert not np.array_equal(with_lora, alone)
    assert np.array_equal(after, alone)  # the cached transformer has no LoRA in it


@pytest.mark.parametrize("model_type", ["sd3", "flux"])
def test_conforms_with_another_transformer(models: Models, tmp_path: Path,
                                           model_type: str) -> None:
    model, other = ((models.sd3, models.sd3_other) if model_type == "sd3" else
                    (models.flux, models.flux_file))
    report = check_model_type(model_type, model, tmp_path / "conformance",
                              extra_args=("--transformer", str(other)))
    assert all(report.images[mode] for mode in report.modes)


QUANTIZER = '''
from typing import Annotated

from dgenerate.plugin_api import Arg, Quantizer, QuantizerSpec, hookimpl


class Int8(Quantizer):
    """SDNQ int8 weights, even for the tiny model's small layers."""

    def __init__(self, device: Annotated[str, Arg(hidden=True)] = ""):
        self.device = device

    def diffusers_config(self):
        from diffusers import SDNQConfig

        return SDNQConfig(weights_dtype="int8", minimum_allowed_numel=0,
                          minimum_allowed_channel_size=0)

    def transformers_config(self):
        return None


@hookimpl
def dgenerate_quantizers():
    yield QuantizerSpec(name="int8", summary="SDNQ int8.", target=":Int8")
'''


def test_a_quantizer_for_the_transformer_alone(models: Models, tmp_path: Path) -> None:
    pytest.importorskip("sdnq")
    plugin = tmp_path / "int8.py"
    plugin.write_text(textwrap.dedent(QUANTIZER))
    env = {"SDNQ_USE_TORCH_COMPILE": "0", "SDNQ_USE_OPENVINO_MM": "0",
           "DGENERATE_CACHE": str(tmp_path / "cache")}
    other = rendered(models.sd3, "sd3", tmp_path / "other", "--transformer",
                     str(models.sd3_other)).astype(int)
    pictures = {name: rendered(models.sd3, "sd3", tmp_path / name, "--plugin-modules",
                               str(plugin), "--transformer", f"{uri};quantizer=int8",
                               env=env).astype(int)
                for name, uri in (("folder", models.sd3_other), ("file", models.sd3_file),
                                  ("original", models.sd3_original))}
    # int8 weights: close to the unquantized picture, yet not the same; a single file is
    # converted once into the cache and quantized from there, like the folder
    assert not np.array_equal(pictures["folder"], other)
    assert np.abs(pictures["folder"] - other).mean() < 8
    assert np.array_equal(pictures["file"], pictures["folder"])
    assert np.array_equal(pictures["original"], pictures["folder"])
    assert len(list((tmp_path / "cache" / "diffusers_converted").iterdir())) == 2


# ----------------------------------------------------------- single-file models


def test_a_single_file_sd3_checkpoint_is_its_folder(models: Models, hub: Path,
                                                    tmp_path: Path) -> None:
    folder = rendered(models.single, "sd3", tmp_path / "folder")
    single = rendered(models.single_file, "sd3", tmp_path / "file", "--offline-mode")
    assert np.array_equal(single, folder)
    # and the transformer of a single-file model can be replaced too: it takes the
    # configuration the model's file takes
    other = build_transformer_folder(models.single, tmp_path / "other", seed=5)
    replaced = rendered(models.single_file, "sd3", tmp_path / "replaced", "--offline-mode",
                        "--transformer", str(build_transformer_file(
                            other, tmp_path / "other.safetensors", layout="original")))
    assert np.array_equal(replaced, rendered(models.single, "sd3", tmp_path / "other-folder",
                                             "--transformer", str(other)))


def test_a_single_file_flux_transformer_with_the_other_parts(models: Models, hub: Path,
                                                              tmp_path: Path) -> None:
    # Flux files hold the transformer alone: the other parts are given by their options
    parts = ("--vae", f"AutoencoderKL;model={models.flux / 'vae'}", "--text-encoders",
             f"CLIPTextModel;model={models.flux};subfolder=text_encoder",
             f"T5EncoderModel;model={models.flux};subfolder=text_encoder_2")
    single = rendered(models.flux_file, "flux", tmp_path / "file", "--offline-mode", *parts)
    assert np.array_equal(single, rendered(models.flux, "flux", tmp_path / "folder",
                                           "--transformer", str(models.flux_other)))
    stderr = failure(str(models.flux_file), "--model-type", "flux", "--offline-mode",
                     "--output-path", str(tmp_path / "alone"))
    assert "holds no weights of its" in stderr and "--text-encoders" in stderr
    assert FLUX_CONFIGS in stderr


def test_single_file_configurations_not_cached(models: Models, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    for model, model_type, repository in ((models.single_file, "sd3", SD3_CONFIGS),
                                          (models.flux_file, "flux", FLUX_CONFIGS)):
        stderr = failure(str(model), "--model-type", model_type, "--offline-mode",
                         "--output-path", str(tmp_path / model_type))
        assert str(model) in stderr and repository in stderr, stderr
        assert "offline mode forbids downloading them" in stderr
        assert "--original-config" not in stderr  # (an LDM .yaml cannot describe these)


def test_a_single_file_lacking_weights_of_a_part(models: Models, hub: Path,
                                                 tmp_path: Path) -> None:
    stderr = failure(str(models.no_embedding), "--model-type", "sd3", "--offline-mode",
                     "--output-path", str(tmp_path))
    assert "lacks 1 weights of its text_encoder_3 (T5EncoderModel)" in stderr
    assert "encoder.embed_tokens.weight" in stderr and "--text-encoders" in stderr


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(("model_type", "uri", "mentions"), [
    ("sd3", "{flux_other}", ("holds a model of the class FluxTransformer2DModel",
                             "not SD3Transformer2DModel")),
    ("flux", "{sd3_other}", ("class SD3Transformer2DModel", "not FluxTransformer2DModel")),
    ("sd3", "{flux_file}", ("does not fit the sd3 model", "has the shape")),
    ("sd3", "{sd3}", ("holds a whole pipeline: add subfolder=transformer",)),
    ("sd3", "{sd3};subfolder=vae", ("class AutoencoderKL",)),
    ("sd3", "{sd3_file};variant=fp16", ("is a single file, which takes only the arguments "
                                        "dtype and quantizer", "not variant")),
    ("sd3", "{sd3_file};subfolder=transformer", ("not subfolder",)),
    ("sd3", "{sd3_other};revison=2", ("no argument 'revison'",)),
    ("sd3", "{sd3_other};dtype=float8", ("'dtype'", "float8")),
    ("sd3", "{sd3_other};quantizer=nothing", ("quantizer='nothing'", "unknown quantizer")),
    ("sd3", "{tmp}/missing.safetensors", ("missing.safetensors' does not exist",)),
    ("sd3", "{sd3}/vae/diffusion_pytorch_model.safetensors",
     ("neither the diffusers nor the original layout",)),
])
def test_mistakes(models: Models, tmp_path: Path, model_type: str, uri: str,
                  mentions: tuple[str, ...]) -> None:
    model = models.sd3 if model_type == "sd3" else models.flux
    paths = {field.name: getattr(models, field.name) for field in dataclasses.fields(models)}
    stderr = failure(str(model), "--model-type", model_type, "--output-path", str(tmp_path),
                     "--transformer", uri.format(tmp=tmp_path, **paths))
    assert "--transformer" in stderr
    for mention in mentions:
        assert mention in stderr, stderr


def test_a_model_type_without_a_transformer(models: Models, tmp_path: Path) -> None:
    stderr = failure(str(models.sd3), "--model-type", "sd", "--output-path", str(tmp_path),
                     "--transformer", str(models.sd3_other))
    assert "--transformer does not apply to --model-type sd" in stderr
    assert "sd3" in stderr and "flux" in stderr
