"""Plugins written against the first render contract (API 0.2) keep working.

The fields that became plugin-declared options (``ModelSource.vae_tiling``,
``Job.clip_skip`` ...) still read, with a DeprecationWarning naming where the
value lives now; a model type with only a ``render`` method still renders.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.plugin_api import Job, Mode, ModelSource, Prompt, RenderRequest
from dgenerate.plugin_api.testing import run_cli

OLD_MODEL_TYPE = '''
from PIL import Image
from dgenerate.plugin_api import ModelType, ModelTypeSpec, RenderOutput, Size, hookimpl

SEEN = []


class Flat(ModelType):
    """Written against API 0.2: one render method, reads the fields that moved."""

    def default_size(self):
        return Size(32, 24)

    def render(self, job):
        SEEN.append((self.source.vae_tiling, self.source.original_config, job.clip_skip,
                     job.guidance_rescale))
        color = (job.seeds[0] % 256, 0, 0)
        return RenderOutput([Image.new("RGB", (job.width, job.height), color)
                             for _ in job.seeds])


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(name="flat-old", summary="A 0.2-style model type.", target=":Flat")
'''


def test_moved_fields_still_read_with_a_deprecation_warning() -> None:
    source = ModelSource(path="m", model_type="sd",
                         values={"vae_tiling": True, "original_config": "x.yaml"})
    job = Job(number=1, mode=Mode.TXT2IMG, prompt=Prompt("a"), seeds=(1,), inference_steps=2,
              guidance_scale=5.0, values={"clip_skips": 1})
    request = RenderRequest(source=source, values={"clip_skips": (1, 2)})
    with pytest.warns(DeprecationWarning, match=r"values\['vae_tiling'\]"):
        assert source.vae_tiling is True
    with pytest.warns(DeprecationWarning, match="original_config"):
        assert source.original_config == "x.yaml"
    with pytest.warns(DeprecationWarning, match=r"job.values\['clip_skips'\]"):
        assert job.clip_skip == 1
    with pytest.warns(DeprecationWarning):
        assert job.guidance_rescale is None
    with pytest.warns(DeprecationWarning):
        assert request.clip_skips == (1, 2)
    with pytest.warns(DeprecationWarning):
        assert request.guidance_rescales == (None,)
    with pytest.raises(AttributeError, match="no_such_field"):
        _ = job.no_such_field


def test_a_one_method_model_type_from_api_0_2_renders(tmp_path: Path) -> None:
    plugin = tmp_path / "flat_old.py"
    plugin.write_text(textwrap.dedent(OLD_MODEL_TYPE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = run_cli("--plugin-modules", str(plugin), "any-model", "--model-type",
                         "flat-old", "--seeds", "7", "8", "--output-path", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    written = sorted((tmp_path / "out").iterdir())
    assert [path.name for path in written] == ["s_7_g_5-0_i_30_step_1.png",
                                               "s_8_g_5-0_i_30_step_2.png"]
    with Image.open(written[0]) as image:
        assert image.size == (32, 24) and image.getpixel((0, 0)) == (7, 0, 0)
    import sys

    seen = sys.modules["flat_old"].SEEN if "flat_old" in sys.modules else None
    if seen is not None:  # loaded in this process: the moved fields read as "not given"
        assert seen[0] == (False, None, None, None)


def test_an_old_model_type_is_told_what_does_not_apply(tmp_path: Path) -> None:
    plugin = tmp_path / "flat_old2.py"
    plugin.write_text(textwrap.dedent(OLD_MODEL_TYPE).replace("flat-old", "flat-old2"))
    result = run_cli("--plugin-modules", str(plugin), "any-model", "--model-type", "flat-old2",
                     "--clip-skips", "1", "--output-path", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "--clip-skips does not apply to --model-type flat-old2" in result.stderr
