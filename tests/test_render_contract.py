"""The render contract's kernel side, with small pure-Python plugins (no torch).

Declared options merge across plugins or clash by name; ``requires`` holds per
declaring model type; ``several`` values reach one job together; the default
model type must be unique; capabilities refuse modes and image-seed parts before
anything loads; configs of plugins loaded by path load them again.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from dgenerate.plugin_api.testing import run_cli

from .support import MEDIA, names

FAMILY = '''
from PIL import Image
from dgenerate.plugin_api import (Capabilities, Mode, ModelType, ModelTypeSpec, OptionSpec,
                                  RenderOutput, Size, hookimpl)

SEEN = []


class Flat(ModelType):
    def default_size(self):
        return Size(16, 16)

    def render(self, job):
        SEEN.append(dict(job.values))
        shade = int(job.values.get("shade") or 0)
        return RenderOutput([Image.new("RGB", (job.width, job.height), (shade, 0, 0))
                             for _ in job.seeds])


SHADE = OptionSpec(flags=("--shade",), type=int, axis=True, token="sh", position=450,
                   help="Red levels to try.")


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(name="NAME-a", summary="A.", target=":Flat",
                        options=(SHADE, OptionSpec(flags=("--extra",), requires=("--shade",),
                                                   help="Needs --shade for NAME-a.")))
    yield ModelTypeSpec(name="NAME-b", summary="B.", target=":Flat",
                        capabilities=Capabilities(modes={Mode.IMG2IMG}, strength=False),
                        options=(SHADE, OptionSpec(flags=("--extra",), help="Free for NAME-b."),
                                 OptionSpec(flags=("--uris",), several=True, help="Some URIs.")))
'''


def family(tmp_path: Path, name: str = "flat", body: str = FAMILY) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body).replace("NAME", name))
    return path


def test_equal_declarations_merge_and_requires_holds_per_model_type(tmp_path: Path) -> None:
    plugin = family(tmp_path)
    out = tmp_path / "out"
    refused = run_cli("--plugin-modules", str(plugin), "m", "--model-type", "flat-a",
                      "--extra", "x", "--output-path", str(out))
    assert refused.exit_code == 1 and "--extra needs --shade" in refused.stderr
    accepted = run_cli("--plugin-modules", str(plugin), "m", "--model-type", "flat-a",
                       "--shade", "1", "2", "--extra", "x", "--seeds", "3",
                       "--output-path", str(out))
    assert accepted.exit_code == 0, accepted.stderr
    assert names(out) == ["s_3_g_5-0_i_30_sh_1_step_1.png", "s_3_g_5-0_i_30_sh_2_step_2.png"]
    help_text = run_cli("--plugin-modules", str(plugin), "--help").stdout
    assert "(model types: flat-a, flat-b)" in help_text  # one --shade for both
    assert "(needs --shade)" in help_text


def test_several_values_reach_one_job_and_the_config_loads_the_plugin(tmp_path: Path) -> None:
    plugin = family(tmp_path)
    out = tmp_path / "out"
    result = run_cli("--plugin-modules", str(plugin), "m", "--model-type", "flat-b",
                     "--image-seeds", str(MEDIA / "dog-on-bench.png") + ";resize=16",
                     "--uris", "a;x=1", "b", "--extra", "y", "--seeds", "3",
                     "--output-path", str(out), "--output-configs")
    assert result.exit_code == 0, result.stderr
    config = next(out.glob("*.dgen")).read_text()
    assert f"\\import_plugins {plugin}\n" in config
    assert "--uris 'a;x=1' b" in config and "--extra y" in config
    replay = run_cli("--file", str(next(out.glob("*.dgen"))), "--output-path",
                     str(tmp_path / "again"))
    assert replay.exit_code == 0, replay.stderr
    assert names(tmp_path / "again") == [path.name for path in out.glob("*.png")]


def test_capabilities_refuse_before_anything_loads(tmp_path: Path) -> None:
    plugin = family(tmp_path)
    base = ["--plugin-modules", str(plugin), "m", "--output-path", str(tmp_path / "o")]
    txt2img = run_cli(*base, "--model-type", "flat-b")
    assert txt2img.exit_code == 1
    assert "--model-type flat-b does not do txt2img: give --image-seeds" in txt2img.stderr
    image = str(MEDIA / "horse1.jpg")
    strength = run_cli(*base, "--model-type", "flat-b", "--image-seeds", image,
                       "--image-seed-strengths", "0.5")
    assert "--image-seed-strengths does not apply to --model-type flat-b" in strength.stderr
    inpaint = run_cli(*base, "--model-type", "flat-b", "--image-seeds",
                      f"{image};{MEDIA / 'horse1-mask.jpg'}")
    assert inpaint.exit_code == 1
    assert "--model-type flat-b does not take an inpaint mask" in inpaint.stderr
    control = run_cli(*base, "--model-type", "flat-a", "--image-seeds", f"{image};control={image}")
    assert "--model-type flat-a does not take control images (control=)" in control.stderr


def test_different_declarations_of_one_option_clash(tmp_path: Path) -> None:
    other = FAMILY.replace('type=int, axis=True, token="sh"', 'type=int, axis=True, token="xx"')
    first, second = family(tmp_path, "one"), family(tmp_path, "two", other)
    result = run_cli("--plugin-modules", str(first), str(second), "--help")
    assert result.exit_code == 1
    assert "the option --shade is declared differently by plugin 'one'" in result.stderr
    assert "plugin 'two'" in result.stderr


def test_a_declared_flag_may_not_take_a_kernel_flag(tmp_path: Path) -> None:
    clash = FAMILY.replace('flags=("--shade",)', 'flags=("--seeds",)')
    result = run_cli("--plugin-modules", str(family(tmp_path, "c", clash)), "--help")
    assert result.exit_code == 1
    assert "the option --seeds is declared twice: by dgenerate itself" in result.stderr


def test_the_default_model_type_is_unique(tmp_path: Path) -> None:
    rival = FAMILY.replace('summary="A.", target=":Flat",', 'summary="A.", target=":Flat", '
                                                            'default=True,')
    result = run_cli("--plugin-modules", str(family(tmp_path, "rival", rival)), "m",
                     "--dry-run", "--output-path", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "give --model-type: 'rival-a'" in result.stderr and "'sd'" in result.stderr
    assert "both claim to be the default" in result.stderr


def test_the_dry_run_shows_the_declared_default_size(tmp_path: Path) -> None:
    result = run_cli("org/some-sdxl-model", "--model-type", "sdxl", "--prompts", "x",
                     "--seeds", "1", "--dry-run", "--output-path", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    assert "size=1024x1024" in result.stdout
    sized = run_cli("org/some-sdxl-model", "--model-type", "sdxl", "--output-size", "512x256",
                    "--dry-run", "--output-path", str(tmp_path / "o"))
    assert "size=512x256" in sized.stdout
