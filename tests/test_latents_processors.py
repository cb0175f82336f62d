"""The builtin latents processors ``scale``, ``noise`` and ``interposer``, and the
``LatentsProcessor`` interface they implement.

Processors are created through the real registry from URIs, the way the render loop
creates them (``context.create(Category.LATENTS_PROCESSOR, uri, device=...)``) and
called as ``processor(latents, pipeline=...)``. The interposer's converters are tiny
random-weight networks of the published architecture, laid out in a temporary
Hugging Face cache under the repository and file names the real ones have, so the
same loading code finds them.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api import (
    Category,
    DgenerateError,
    LatentsProcessor,
    PluginArgumentError,
    PluginError,
)
from dgenerate.plugin_api.testing import (
    assert_import_light,
    isolated_plugin_manager,
    run_cli,
    validate_plugin,
)

from .source_fixtures import hub_cache_entry
from .support import run_dgenerate

HEAVY = ("torch", "diffusers", "transformers", "safetensors", "huggingface_hub")


@pytest.fixture
def context(plugin_manager) -> KernelContext:
    return KernelContext(plugin_manager)


@pytest.fixture
def create(context: KernelContext):
    return lambda uri: context.create(Category.LATENTS_PROCESSOR, uri, device="cpu")


def latents(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def pipeline_with(scheduler) -> types.SimpleNamespace:
    """What the processors use of a pipeline: its scheduler."""
    return types.SimpleNamespace(scheduler=scheduler)


def seeded_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- scale


def test_scale_multiplies(create) -> None:
    x = latents(2, 4, 8, 8)
    assert torch.allclose(create("scale;factor=1.5")(x), x * 1.5)


def test_scale_default_changes_nothing(create) -> None:
    x = latents(1, 4, 8, 8)
    assert torch.equal(create("scale")(x), x)


def test_scale_clamps_after_scaling(create) -> None:
    x = latents(1, 4, 8, 8)
    result = create("scale;factor=2;clamp-min=-1;clamp-max=0.5")(x)
    assert torch.allclose(result, (x * 2).clamp(-1, 0.5))
    assert result.min() == -1 and result.max() == 0.5


def test_scale_normalizes_each_channel_before_scaling(create) -> None:
    x = latents(2, 4, 8, 8) * 3 + 2
    result = create("scale;normalize=true;factor=2")(x)
    assert torch.allclose(result.mean(dim=(-2, -1)), torch.zeros(2, 4), atol=1e-5)
    assert torch.allclose(result.std(dim=(-2, -1), correction=0), torch.full((2, 4), 2.0),
                          atol=1e-4)


def test_scale_normalize_leaves_a_flat_channel_at_zero(create) -> None:
    x = torch.full((1, 4, 4, 4), 3.0)
    assert torch.equal(create("scale;normalize=true")(x), torch.zeros(1, 4, 4, 4))


def test_scale_keeps_dtype_and_works_on_any_channel_count(create) -> None:
    x = latents(1, 16, 4, 6).to(torch.float16)
    result = create("scale;factor=0.5")(x)
    assert result.dtype == torch.float16 and result.shape == (1, 16, 4, 6)


# --------------------------------------------------------------------------- noise


def test_noise_without_pipeline_is_ddpm_add_noise(create) -> None:
    from diffusers import DDPMScheduler

    x = latents(2, 4, 8, 8)
    expected = DDPMScheduler().add_noise(x, seeded_noise(x.shape, 42), torch.tensor([50, 50]))
    assert torch.allclose(create("noise;timestep=50;seed=42")(x), expected, atol=1e-6)


def test_noise_default_timestep_is_100(create) -> None:
    from diffusers import DDPMScheduler

    x = latents(1, 4, 8, 8)
    expected = DDPMScheduler().add_noise(x, seeded_noise(x.shape, 7), torch.tensor([100]))
    assert torch.allclose(create("noise;seed=7")(x), expected, atol=1e-6)


def test_noise_with_a_seed_is_reproducible_and_without_differs(create) -> None:
    x = latents(1, 4, 8, 8)
    seeded = create("noise;timestep=500;seed=3")
    assert torch.equal(seeded(x), seeded(x))
    assert torch.equal(seeded(x), create("noise;timestep=500;seed=3")(x))
    assert not torch.equal(seeded(x), create("noise;timestep=500;seed=4")(x))
    unseeded = create("noise;timestep=500")
    assert not torch.equal(unseeded(x), unseeded(x))


def test_noise_grows_with_the_timestep(create) -> None:
    x = latents(1, 4, 16, 16)
    change = [(create(f"noise;timestep={t};seed=1")(x) - x).abs().mean().item()
              for t in (0, 100, 500, 999)]
    assert change == sorted(change) and change[0] < 0.01 and change[-1] > 0.5


def test_noise_uses_a_fresh_copy_of_the_pipeline_scheduler(create) -> None:
    """A scheduler that has run keeps a begin index that its add_noise would use instead
    of the timestep asked for; the processor adds the noise of the timestep given."""
    from diffusers import EulerDiscreteScheduler

    used = EulerDiscreteScheduler()
    used.set_timesteps(10)
    used.set_begin_index(7)
    x = latents(1, 4, 8, 8)
    expected = EulerDiscreteScheduler().add_noise(x, seeded_noise(x.shape, 5),
                                                  torch.tensor([300]))
    result = create("noise;timestep=300;seed=5")(x, pipeline=pipeline_with(used))
    assert torch.allclose(result, expected, atol=1e-6)
    assert used.begin_index == 7  # the pipeline's scheduler is left alone


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_noise_of_flow_matching_schedulers_uses_the_sigma_of_the_timestep(create,
                                                                          shift: float) -> None:
    """sigma = timestep / training timesteps, whatever the shift; with shift 1 the timestep
    is in the scheduler's own table, so its scale_noise gives the reference."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    x = latents(2, 16, 8, 8)
    noise = seeded_noise(x.shape, 9)
    reference = FlowMatchEulerDiscreteScheduler(shift=1.0).scale_noise(
        x, torch.tensor([100.0, 100.0]), noise)
    assert torch.allclose(reference, 0.1 * noise + 0.9 * x, atol=1e-6)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    result = create("noise;timestep=100;seed=9")(x, pipeline=pipeline_with(scheduler))
    assert torch.allclose(result, reference, atol=1e-6)


def test_noise_with_a_real_pipeline(create, tiny_sd: Path) -> None:
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_sd)
    x = latents(1, 4, 8, 8)
    noise = seeded_noise(x.shape, 11)
    fresh = type(pipeline.scheduler).from_config(pipeline.scheduler.config)
    expected = fresh.add_noise(x, noise, torch.tensor([250]))
    result = create("noise;timestep=250;seed=11")(x, pipeline=pipeline)
    assert torch.allclose(result, expected, atol=1e-6)


def test_noise_refuses_a_timestep_beyond_the_scheduler(create) -> None:
    from diffusers import DDIMScheduler

    processor = create("noise;timestep=600;seed=1")
    with pytest.raises(PluginArgumentError, match=r"timestep=600 .* 500 training timesteps"):
        processor(latents(1, 4, 8, 8), pipeline=pipeline_with(
            DDIMScheduler(num_train_timesteps=500)))


def test_noise_keeps_the_dtype(create) -> None:
    x = latents(1, 4, 8, 8).to(torch.bfloat16)
    assert create("noise;seed=1")(x).dtype == torch.bfloat16


# ----------------------------------------------------------------------- interposer

#: tiny converters built here: (source, target) -> (channels in, channels out)
TINY = {("v1", "xl"): (4, 4), ("fx", "v1"): (16, 4), ("ca", "xl"): (4, 4)}


@pytest.fixture(scope="session")
def converters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache folder holding tiny converters of the real architecture (8
    channels inside and 2 blocks instead of 64 and 12), plus two broken ones."""
    from safetensors.torch import save_file

    from dgenerate.plugins_builtin.latents_processors.interposer_network import (
        InterposerNetwork,
    )
    from dgenerate.plugins_builtin.latents_processors.interposer_weights import (
        REPOSITORY,
        hub_path,
    )

    folder = tmp_path_factory.mktemp("interposers")
    files: dict[str, Path] = {}
    torch.manual_seed(0)
    for (source, target), (channels_in, channels_out) in TINY.items():
        network = InterposerNetwork(ch_in=channels_in, ch_out=channels_out, ch_mid=8, blocks=2)
        for module in network.modules():  # statistics a trained network would have
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        path = folder / f"{source}-{target}.safetensors"
        save_file({key: value.contiguous() for key, value in network.state_dict().items()},
                  path)
        files[hub_path(source, target)] = path
    # xl-to-v3 must give 16 channels: this one gives 4
    files[hub_path("xl", "v3")] = folder / "v1-xl.safetensors"
    garbage = folder / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    files[hub_path("v3", "xl")] = garbage
    cache = folder / "hub"
    hub_cache_entry(cache, REPOSITORY, {"main": files})
    return cache


@pytest.fixture
def hub(converters: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(converters))
    monkeypatch.setenv("HF_HUB_CACHE", str(converters))
    return converters


def reference_network(source: str, target: str):
    """The converter loaded by hand, straight from the cache."""
    from safetensors.torch import load_file

    from dgenerate.plugins_builtin.latents_processors.interposer import CONVERSIONS
    from dgenerate.plugins_builtin.latents_processors.interposer_network import (
        InterposerNetwork,
        shape_of,
    )
    from dgenerate.plugins_builtin.latents_processors.interposer_weights import locate_weights

    state = load_file(locate_weights(source, target, offline=True))
    network = InterposerNetwork(scale=CONVERSIONS[source, target], **shape_of(state))
    network.load_state_dict(state)
    return network.eval()


def test_published_converter_layout() -> None:
    """The state-dict keys of the full-size network are those of the published v4.0 files
    (head with short and long paths, Upsample at core.0, 12 residual blocks, a final batch
    norm at core.13, tail)."""
    from dgenerate.plugins_builtin.latents_processors.interposer_network import (
        InterposerNetwork,
    )

    def convolutions(prefix: str) -> set[str]:
        return {f"{prefix}.long.{index}.{kind}" for index in (0, 2, 4)
                for kind in ("weight", "bias")}

    def batch_norm(prefix: str) -> set[str]:
        return {f"{prefix}.{kind}" for kind in (
            "weight", "bias", "running_mean", "running_var", "num_batches_tracked")}

    expected = {"head.short.weight", "head.short.bias", "tail.weight", "tail.bias",
                *convolutions("head"), *batch_norm("core.13")}
    for block in range(1, 13):
        expected |= convolutions(f"core.{block}") | batch_norm(f"core.{block}.norm")
    state = InterposerNetwork(ch_in=16, ch_out=4).state_dict()
    assert set(state) == expected
    assert state["head.short.weight"].shape == (64, 16, 3, 3)
    assert state["tail.weight"].shape == (4, 64, 3, 3)


def test_interposer_converts_with_the_vae_scaling_of_both_spaces(create, hub: Path) -> None:
    x = latents(2, 4, 8, 8)
    result = create("interposer;source=v1;target=xl")(x)
    with torch.no_grad():
        expected = reference_network("v1", "xl")(x / 0.18215) * 0.13025
    assert result.shape == (2, 4, 8, 8)
    assert torch.allclose(result, expected, atol=1e-5)


def test_interposer_undoes_the_shift_of_flux(create, hub: Path) -> None:
    x = latents(1, 16, 8, 8)
    result = create("interposer;source=fx;target=v1")(x)
    with torch.no_grad():
        expected = reference_network("fx", "v1")(x / 0.3611 + 0.1159) * 0.18215
    assert result.shape == (1, 4, 8, 8)
    assert torch.allclose(result, expected, atol=1e-5)


def test_interposer_halves_the_size_of_stable_cascade_latents(create, hub: Path) -> None:
    x = latents(1, 4, 16, 12)
    result = create("interposer;source=ca;target=xl")(x)
    with torch.no_grad():
        expected = reference_network("ca", "xl")(x * 0.3764) * 0.13025
    assert result.shape == (1, 4, 8, 6)
    assert torch.allclose(result, expected, atol=1e-5)


def test_interposer_keeps_the_dtype_of_the_latents(create, hub: Path) -> None:
    result = create("interposer;source=v1;target=xl")(latents(1, 4, 8, 8).half())
    assert result.dtype == torch.float16


def test_interposer_converter_is_loaded_once_into_the_object_cache(
        context: KernelContext, create, hub: Path) -> None:
    first = create("interposer;source=v1;target=xl")
    second = create("interposer;source=v1;target=xl;model-offload=true")
    assert first._model is second._model
    assert len(context.cache("interposer")) == 1
    second(latents(1, 4, 8, 8))
    assert next(second._model.parameters()).device.type == "cpu"


def test_interposer_without_a_context_caches_in_the_module(hub: Path) -> None:
    from dgenerate.plugins_builtin.latents_processors.interposer import Interposer

    first = Interposer(source="v1", target="xl")
    assert Interposer(source="v1", target="xl")._model is first._model
    assert first(latents(1, 4, 8, 8)).shape == (1, 4, 8, 8)


def test_interposer_same_source_and_target_changes_and_loads_nothing(create, tmp_path: Path,
                                                                      monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    x = latents(1, 4, 8, 8)
    assert torch.equal(create("interposer;source=xl;target=xl")(x), x)


def test_interposer_offline_without_the_converter(plugin_manager, hub: Path) -> None:
    offline = KernelContext(plugin_manager, offline_mode=True)
    with pytest.raises(DgenerateError) as error:
        offline.create(Category.LATENTS_PROCESSOR, "interposer;source=xl;target=v1")
    message = str(error.value)
    assert "'v4.0/xl-to-v1_interposer-v4.0.safetensors'" in message
    assert "city96/SD-Latent-Interposer" in message
    assert "offline mode forbids downloading it" in message


def test_interposer_refuses_latents_of_another_space(create, hub: Path) -> None:
    processor = create("interposer;source=v1;target=xl")
    with pytest.raises(DgenerateError, match=r"source=v1 .* 4 channels.*\(1, 16, 8, 8\)"):
        processor(latents(1, 16, 8, 8))


def test_interposer_refuses_a_converter_of_the_wrong_shape(create, hub: Path) -> None:
    with pytest.raises(DgenerateError, match="converts 4 channels to 4, but this conversion "
                                             "needs 4 to 16"):
        create("interposer;source=xl;target=v3")


def test_interposer_refuses_an_unreadable_converter(create, hub: Path) -> None:
    with pytest.raises(DgenerateError, match="cannot be read"):
        create("interposer;source=v3;target=xl")


# --------------------------------------------------------------- bad URI arguments


@pytest.mark.parametrize(("uri", "expected"), [
    ("scale;factor=inf", "factor=inf"),
    ("scale;factor=big", "'big'"),
    ("scale;clamp-min=2;clamp-max=1", "clamp-min=2.0 is larger than clamp-max=1.0"),
    ("scale;device=cuda", "has no argument 'device'"),
    ("noise;timestep=-1", "timestep=-1"),
    ("noise;timestep=later", "'later'"),
    ("noise;seed=-5", "seed=-5"),
    ("interposer;source=sd15;target=xl", "'sd15'"),
    ("interposer;source=v1;target=fx", "'fx'"),
    ("interposer;source=v1", "needs the argument 'target'"),
    ("interposer;source=v1;target=xl;device=warp", "device='warp' is not auto, cpu"),
])
def test_bad_arguments_name_the_value(create, hub: Path, uri: str, expected: str) -> None:
    with pytest.raises(DgenerateError) as error:
        create(uri)
    assert expected in str(error.value)


def test_a_missing_device_is_named(create, hub: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(DgenerateError, match="device=cuda:1: no cuda device is available"):
        create("interposer;source=v1;target=xl;device=cuda:1")


def test_device_auto_and_the_supplied_device(context: KernelContext, hub: Path) -> None:
    interposer = context.create(Category.LATENTS_PROCESSOR, "interposer;source=v1;target=xl",
                                device="auto")
    assert interposer.device in ("cpu", "cuda", "xpu", "mps")
    # scale and noise have no use for --device: it is accepted hidden, not from the URI
    for name in ("scale", "noise"):
        processor = context.create(Category.LATENTS_PROCESSOR, name, device="cuda:3")
        assert processor.device == "cuda:3"


# ---------------------------------------------------------------------- interface


def test_the_plugin_validates() -> None:
    specs = validate_plugin("dgenerate.plugins_builtin.latents_processors.register",
                            builtins=False)
    assert sorted(spec.name for spec in specs) == ["interposer", "noise", "scale"]



class OldStyle(LatentsProcessor):
    """Written against the first interface: process(latents), no pipeline."""

    def process(self, latents):
        return latents + 1


class NewStyle(LatentsProcessor):
    def process(self, latents, *, pipeline=None):
        self.seen = pipeline
        return latents * 2


class KeywordsStyle(LatentsProcessor):
    def process(self, latents, **options):
        self.seen = options.get("pipeline")
        return latents


class WrongBatch(LatentsProcessor):
    def process(self, latents, *, pipeline=None):
        return latents[:1]


class NotATensor(LatentsProcessor):
    def process(self, latents, *, pipeline=None):
        return [latents]


def test_old_style_processors_are_called_without_the_pipeline() -> None:
    x = latents(2, 4, 4, 4)
    assert torch.equal(OldStyle()(x, pipeline=object()), x + 1)
    assert torch.equal(OldStyle()(x), x + 1)


def test_new_style_processors_receive_the_pipeline() -> None:
    pipeline = object()
    processor, keywords = NewStyle(), KeywordsStyle()
    processor(latents(1, 4, 4, 4), pipeline=pipeline)
    keywords(latents(1, 4, 4, 4), pipeline=pipeline)
    assert processor.seen is pipeline and keywords.seen is pipeline
    processor(latents(1, 4, 4, 4))
    assert processor.seen is None


def test_a_result_of_another_batch_size_or_type_is_the_processor_bug() -> None:
    with pytest.raises(PluginError, match=r"WrongBatch returned .*\(1, 4, 4, 4\).*\(2, 4, 4, 4\)"):
        WrongBatch()(latents(2, 4, 4, 4))
    with pytest.raises(PluginError, match="NotATensor returned list, not a tensor"):
        NotATensor()(latents(1, 4, 4, 4))


OLD_STYLE_PLUGIN = '''
from dgenerate.plugin_api import LatentsProcessor, LatentsProcessorSpec, hookimpl


class AddOne(LatentsProcessor):
    """Add one to every value."""

    def __init__(self, *, amount: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.amount = amount

    def process(self, latents):
        return latents + self.amount


@hookimpl
def dgenerate_latents_processors():
    yield LatentsProcessorSpec(name="add-one", summary="Add one.", target=":AddOne")
'''


def test_an_old_style_plugin_still_works_through_the_registry(tmp_path: Path) -> None:
    plugin = tmp_path / "add_one.py"
    plugin.write_text(OLD_STYLE_PLUGIN)
    context = KernelContext(isolated_plugin_manager(plugins=[str(plugin)]))
    processor = context.create(Category.LATENTS_PROCESSOR, "add-one;amount=2", device="cpu")
    assert processor.device == "cpu"
    x = latents(1, 4, 4, 4)
    assert torch.equal(processor(x, pipeline=object()), x + 2)


# -------------------------------------------------------------------------- help


def test_listing_names_the_three_processors() -> None:
    result = run_cli("--latents-processor-help")
    assert result.exit_code == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    assert {'"interposer"', '"noise"', '"scale"'} <= set(names)


def test_installed_command_lists_and_documents_them() -> None:
    listing = run_dgenerate("--latents-processor-help")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0] == "Available latents processors:"
    for name in ("interposer", "noise", "scale"):
        assert f'"{name}"' in listing.stdout
    detail = run_dgenerate("--latents-processor-help", "noise")
    assert detail.returncode == 0, detail.stderr
    assert detail.stdout.startswith("noise:") and "timestep: int = 100" in detail.stdout


def test_help_of_noise_shows_its_arguments_and_description() -> None:
    result = run_cli("--latents-processor-help", "noise")
    assert result.exit_code == 0, result.stderr
    for text in ("timestep: int = 100", "seed: int | None = None",
                 "training timestep whose noise is added", "flow", "DDPMScheduler"):
        assert text in result.stdout
    assert "device" not in result.stdout.split("Add the noise")[0]  # hidden arguments


def test_help_of_interposer_and_scale() -> None:
    result = run_cli("--latents-processor-help", "interposer", "scale")
    assert result.exit_code == 0, result.stderr
    for text in ('source: "v1" | "xl" | "v3" | "fx" | "ca"', 'target: "v1" | "xl" | "v3"',
                 'device: str = "cpu"', "model-offload: bool = False",
                 "city96/SD-Latent-Interposer", "0.18215", "factor: float = 1.0",
                 "clamp-min: float | None = None", "normalize: bool = False"):
        assert text in result.stdout


def test_unknown_processor_is_an_error() -> None:
    result = run_cli("--latents-processor-help", "blur")
    assert result.exit_code == 1
    assert "'blur'" in result.stderr and "Traceback" not in result.stderr


def test_listing_and_help_do_not_import_torch() -> None:
    assert_import_light(["--latents-processor-help"], forbidden=HEAVY)
    assert_import_light(["--latents-processor-help", "scale", "noise", "interposer"],
                        forbidden=HEAVY)
