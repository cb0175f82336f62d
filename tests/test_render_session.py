"""The render loop inside one process: caches shared between invocations, the result
object, events to plugins, memory-based eviction."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from dgenerate.kernel.cache import CacheRegistry
from dgenerate.kernel.cli.commands import make_plan
from dgenerate.kernel.cli.parser import build_parser
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.render.loop import render
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli


def invoke(context: KernelContext, *args: str):
    parser = build_parser(context.manager)
    return render(context, make_plan(context, parser, parser.parse_args(list(args))))


def test_caches_are_shared_between_invocations(tiny_sd: Path, tmp_path: Path,
                                               media: Path) -> None:
    context = KernelContext(isolated_plugin_manager())
    common = ("--inference-steps", "2", "--seeds", "1", "--output-path", str(tmp_path))
    first = invoke(context, str(tiny_sd), *common)
    second = invoke(context, str(tiny_sd), *common, "--image-seeds",
                    f"{media / 'horse1.jpg'};64x32")
    third = invoke(context, str(tiny_sd), *common, "--image-seeds",
                   f"{media / 'horse1.jpg'};{media / 'horse1-mask.jpg'};64x32")
    pipelines = context.cache("pipeline")
    assert pipelines.misses == 3  # the base, then img2img and inpaint built from it
    assert len(pipelines) == 3
    entries = [entry.value for entry in pipelines._entries.values()]
    base, img2img, inpaint = entries
    assert img2img.unet is base.unet and inpaint.vae is base.vae  # one copy of the weights
    assert [type(pipe).__name__ for pipe in entries] == [
        "StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline",
        "StableDiffusionInpaintPipeline"]
    invoke(context, str(tiny_sd), *common)
    assert pipelines.misses == 3 and pipelines.hits >= 4
    assert [Path(image.path).name for image in first.images] == ["s_1_g_5-0_i_2_step_1.png"]
    assert second.images[0].path.endswith("s_1_st_0-8_g_5-0_i_2_step_1.png")
    assert third.jobs == 1 and third.files == [third.images[0].path]


def test_result_lists_configs_too(tiny_sd: Path, tmp_path: Path) -> None:
    context = KernelContext(isolated_plugin_manager())
    result = invoke(context, str(tiny_sd), "--inference-steps", "1", "--seeds", "1", "2",
                    "--output-configs", "--output-path", str(tmp_path))
    assert result.jobs == 2
    assert [Path(path).name for path in result.files] == [
        "s_1_g_5-0_i_1_step_1.png", "s_1_g_5-0_i_1_step_1.dgen",
        "s_2_g_5-0_i_1_step_2.png", "s_2_g_5-0_i_1_step_2.dgen"]
    assert [image.seed for image in result.images] == [1, 2]


def test_verbose_shows_cache_use_and_pipeline_calls(tiny_sd: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_sd), "-v", "--inference-steps", "1", "--seeds", "1", "2",
                     "--output-path", str(tmp_path), env={"DGENERATE_DISABLE_PLUGINS": "*"})
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("cache miss in 'pipeline'") == 1
    assert "cache hit in 'pipeline'" in result.stderr
    assert "pipeline call: prompt=[''], num_inference_steps=1, guidance_scale=5.0" in (
        result.stderr)


def test_events_reach_plugins(tiny_sd: Path, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    plugin = tmp_path / "recorder.py"
    plugin.write_text(textwrap.dedent(f"""
        import json
        from dgenerate.plugin_api import (JobFinished, JobStarted, RenderFinished,
                                          RenderStarted, hookimpl)

        @hookimpl
        def dgenerate_render_event(event):
            record = {{"type": type(event).__name__}}
            if isinstance(event, RenderStarted):
                record["jobs"] = event.job_count
            if isinstance(event, JobStarted):
                record["seeds"] = list(event.job.seeds)
            if isinstance(event, JobFinished):
                record["files"] = [f.rsplit("/", 1)[-1] for f in event.files]
                record["scheduler"] = event.info["scheduler"]
            if isinstance(event, RenderFinished):
                record["count"] = len(event.files)
            with open({str(log)!r}, "a") as out:
                out.write(json.dumps(record) + "\\n")
        """))
    result = run_cli(str(tiny_sd), "--plugin-modules", str(plugin), "--inference-steps", "1",
                     "--seeds", "3", "--batch-size", "2", "--output-path", str(tmp_path / "out"),
                     env={"DGENERATE_DISABLE_PLUGINS": "*"})
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events == [
        {"type": "RenderStarted", "jobs": 1},
        {"type": "JobStarted", "seeds": [3, 4]},
        {"type": "JobFinished", "files": ["s_3_g_5-0_i_1_step_1_image_1.png",
                                          "s_3_g_5-0_i_1_step_1_image_2.png"],
         "scheduler": "EulerDiscreteScheduler"},
        {"type": "RenderFinished", "count": 2},
    ]


def test_a_failing_event_handler_is_reported(tiny_sd: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "failing.py"
    plugin.write_text("from dgenerate.plugin_api import hookimpl\n\n@hookimpl\n"
                      "def dgenerate_render_event(event):\n    raise KeyError('oops')\n")
    result = run_cli(str(tiny_sd), "--plugin-modules", str(plugin), "--inference-steps", "1",
                     "--output-path", str(tmp_path), env={"DGENERATE_DISABLE_PLUGINS": "*"})
    assert result.exit_code == 1
    assert "failing.py) failed handling RenderStarted: KeyError: 'oops'" in result.stderr


def test_eviction_when_memory_runs_short() -> None:
    free = {"bytes": 10_000}
    registry = CacheRegistry(reserve=1_000, memory=lambda device: free["bytes"])
    pipelines, vaes = registry.cache("pipeline"), registry.cache("vae")
    pipelines.get_or_create("a", lambda: "A", size=4_000)
    vaes.get_or_create("v", lambda: "V", size=1_000)
    pipelines.get_or_create("a", lambda: "unused")  # touching "a" makes "v" the oldest
    free["bytes"] = 4_500  # 4 000 more would leave less than the 1 000 reserve
    calls = []

    def make_room_check() -> str:
        calls.append(("a" in pipelines, "v" in vaes))
        return "B"

    original_memory = registry._memory
    evictions = iter([4_500, 5_500])  # after evicting "v", enough is free
    registry._memory = lambda device: next(evictions, 6_000)
    pipelines.get_or_create("b", make_room_check, size=4_000)
    registry._memory = original_memory
    assert calls == [(True, False)]  # the least recently used entry went first
    assert "b" in pipelines and "a" in pipelines
    assert pipelines.misses == 2 and pipelines.hits == 1


class _OnDevice:
    def __init__(self, device: str) -> None:
        self.device = device


def test_eviction_counts_memory_on_the_device_objects_live_on() -> None:
    free = {"cpu": 10_000, "cuda:0": 10_000}
    registry = CacheRegistry(reserve=1_000, memory=lambda device: free[device])
    pipelines = registry.cache("pipeline")
    gpu = pipelines.get_or_create("gpu", lambda: _OnDevice("cuda"), size=5_000, device="cuda")
    pipelines.get_or_create("host", lambda: _OnDevice("cpu"), size=5_000)
    assert gpu.device == "cuda" and len(pipelines) == 2
    free["cuda:0"] = 2_000  # the GPU is short: only the object living there may go
    evicted = iter([2_000, 9_000])
    registry._memory = lambda device: next(evicted) if device == "cuda:0" else free[device]
    pipelines.get_or_create("gpu2", lambda: _OnDevice("cuda:0"), size=3_000, device="cuda:0")
    assert "gpu" not in pipelines and "host" in pipelines and "gpu2" in pipelines
    # the host short of memory with nothing evictable there: the GPU objects stay
    registry._memory = lambda device: 500 if device == "cpu" else 9_000
    pipelines.get_or_create("host2", lambda: _OnDevice("cpu"), size=100)
    assert "gpu2" in pipelines and "host" not in pipelines and "host2" in pipelines
