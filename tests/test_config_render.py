"""Config scripts that render: shared caches, the last_* variables, templated invocations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.cli import commands
from dgenerate.kernel.config.runner import ScriptSource
from dgenerate.kernel.config.session import make_runner
from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.plugin_api import Prompt
from dgenerate.plugin_api.testing import isolated_plugin_manager, run_cli

pytestmark = pytest.mark.usefixtures("restore_process_state")


def test_a_script_loads_its_model_once_and_sets_variables(tiny_sd: Path, tmp_path: Path,
                                                          media: Path) -> None:
    runner = make_runner(KernelContext(isolated_plugin_manager()), commands)
    text = textwrap.dedent(f"""
        \\set model {tiny_sd}
        {{{{ model }}}} --inference-steps 2 --seeds 1 2 --output-path {tmp_path / "a"}
        --prompts "a red circle; blurry"
        \\setp first_images last_images
        {{{{ model }}}} --inference-steps 2 --output-path {tmp_path / "b"}
        --prompts {{{{ format_prompt(last_prompts) }}}} --seeds {{{{ last_seeds | join(' ') }}}}
        {{% for image in first_images %}}
        {{{{ model }}}} --image-seeds {{{{ quote(image) }}}} --inference-steps 2 --seeds 3 \\
            --output-path {tmp_path / "c"} --prompts {{{{ quote(last(last_prompts).positive) }}}}
        {{% endfor %}}
        """)
    runner.run(text, ScriptSource("test.dgen"))
    variables = runner.variables
    assert variables["last_prompts"] == [Prompt("a red circle", None)]
    assert variables["last_seeds"] == [3]
    assert variables["last_image_seed_strengths"] == [0.8]
    assert variables["last_inference_steps"] == [2]
    assert variables["last_model_path"] == str(tiny_sd)
    assert variables["last_model_type"] == "sd"  # the default model type, by its name
    assert [Path(path).name for path in variables["first_images"]] == [
        "s_1_g_5-0_i_2_step_1.png", "s_2_g_5-0_i_2_step_2.png"]
    assert [Path(path).parent.name for path in variables["last_images"]] == ["c"]
    # the same seeds and prompt: the second invocation repeats the first exactly
    for name in ("s_1_g_5-0_i_2_step_1.png", "s_2_g_5-0_i_2_step_2.png"):
        with Image.open(tmp_path / "a" / name) as first, Image.open(tmp_path / "b" / name) as again:
            assert np.array_equal(np.asarray(first), np.asarray(again))
    pipelines = runner.context.caches.cache("pipeline")
    assert pipelines.misses == 2  # the model once, plus its img2img pipeline built from it
    assert pipelines.hits >= 4


def test_injected_arguments_reach_every_invocation(tiny_sd: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.dgen"
    script.write_text(f"{tiny_sd} --seeds 1\n{tiny_sd} --seeds 2\n\\print {{{{ last_images }}}}\n")
    result = run_cli("--file", str(script), "--inference-steps", "1", "--output-path",
                     str(tmp_path / "out"), env={"DGENERATE_DISABLE_PLUGINS": "*"})
    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "s_1_g_5-0_i_1_step_1.png", "s_2_g_5-0_i_1_step_1.png"]
    last = str(tmp_path / "out" / "s_2_g_5-0_i_1_step_1.png")
    assert result.stdout.splitlines()[-1] == str([last])


def test_a_failing_invocation_stops_the_script_with_its_line(tiny_sd: Path,
                                                             tmp_path: Path) -> None:
    script = tmp_path / "s.dgen"
    script.write_text(f"\\print start\n{tiny_sd} --inference-steps 1 --output-path "
                      f"{tmp_path / 'out'}\n\n{tiny_sd} --output-size 70\n\\print never\n")
    result = run_cli("--file", str(script), env={"DGENERATE_DISABLE_PLUGINS": "*"})
    assert result.exit_code == 1
    assert "start" in result.stdout and "never" not in result.stdout
    assert f"{script}, line 4: {tiny_sd} --output-size 70: --output-size: " in result.stderr
    assert len(list((tmp_path / "out").iterdir())) == 1  # the first invocation's work remains
