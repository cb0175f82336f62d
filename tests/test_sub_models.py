"""The sub-model seam: a SubModel plugin's options apply to the model types declaring its
slot, its values key the loaded pipeline, its components and attach step reach it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from dgenerate.plugin_api.testing import run_cli

TOY = '''
import os

from dgenerate.plugin_api import OptionSpec, SubModel, SubModelSpec, hookimpl


def record(*call):
    with open(os.environ["TOY_LOG"], "a") as log:
        log.write(repr(call) + "\\n")


class Toy(SubModel):
    """Scales the latents of the VAE: a visible, cheap change to the pipeline."""

    def check(self, values, model_type):
        if values.get("toy_scale") is not None and values["toy_scale"] <= 0:
            from dgenerate.plugin_api import DgenerateError
            raise DgenerateError("--toy-scale must be above 0")

    def load_key(self, values):
        return values.get("toy_scale")

    def components(self, values, target):
        record("components", target.model_type, target.pipeline_class.__name__)
        return {}

    def attach(self, pipeline, values, target):
        record("attach", values["toy_scale"])
        pipeline.vae.config.scaling_factor *= values["toy_scale"]


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(name="toy", slot="lora", summary="A toy sub-model.", target=":Toy",
                       options=(OptionSpec(flags=("--toy-scale",), type=float,
                                           help="Scale the VAE latents."),))
'''


def pixels(folder: Path) -> np.ndarray:
    (path,) = sorted(folder.glob("*.png"))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_a_sub_model_reaches_the_pipeline_and_keys_it(tmp_path: Path) -> None:
    plugin = tmp_path / "toy.py"
    plugin.write_text(textwrap.dedent(TOY))
    base = ["--plugin-modules", str(plugin), "embedded:shapes", "--prompts", "a red circle",
            "--seeds", "1", "--inference-steps", "2"]
    log = tmp_path / "calls.log"
    env = {"TOY_LOG": str(log)}
    plain = run_cli(*base, "--output-path", str(tmp_path / "plain"), env=env)
    toyed = run_cli(*base, "--toy-scale", "0.5", "--output-path", str(tmp_path / "toy"), env=env)
    assert plain.exit_code == 0 and toyed.exit_code == 0, toyed.stderr
    assert not np.array_equal(pixels(tmp_path / "plain"), pixels(tmp_path / "toy"))
    calls = log.read_text().splitlines()
    assert calls == ["('components', 'sd', 'StableDiffusionPipeline')", "('attach', 0.5)"]
    config = run_cli(*base, "--toy-scale", "0.5", "--output-path", str(tmp_path / "c"),
                     "--output-configs", env=env)
    assert "--toy-scale 0.5" in next((tmp_path / "c").glob("*.dgen")).read_text()
    assert config.exit_code == 0


def test_its_options_apply_where_the_slot_is_declared(tmp_path: Path) -> None:
    plugin = tmp_path / "toy2.py"
    plugin.write_text(textwrap.dedent(TOY))
    env = {"TOY_LOG": str(tmp_path / "calls.log")}
    refused = run_cli("--plugin-modules", str(plugin), "some/model", "--model-type",
                      "upscaler-x2", "--toy-scale", "1", "--image-seeds", "x.png",
                      "--output-path", str(tmp_path), env=env)
    assert refused.exit_code == 1
    assert "--toy-scale does not apply to --model-type upscaler-x2; it applies to" in (
        refused.stderr)
    assert "upscaler-x4" in refused.stderr and "sd" in refused.stderr
    checked = run_cli("--plugin-modules", str(plugin), "embedded:shapes", "--toy-scale", "-1",
                      "--output-path", str(tmp_path), "--dry-run", env=env)
    assert checked.exit_code == 1 and "--toy-scale must be above 0" in checked.stderr


def test_scripts_of_dgenerate_5_read_the_uris_by_their_old_names(tmp_path: Path) -> None:
    vae = Path(__file__).parent.parent / "plugin_api/diffusion/embedded/shapes/vae"
    script = tmp_path / "old.dgen"
    script.write_text(
        f'embedded:shapes --vae "AutoencoderKL;model={vae}" --prompts "a red circle" '
        f"--inference-steps 1 --output-path {tmp_path / 'out'} --dry-run\n"
        "\\print {{ last_vae_uri == last_vae }} {{ last_vae_uri.split(';')[0] }} "
        "{{ last_lora_uris }} {{ last_controlnet_uris }} {{ last_ip_adapter_uris }} "
        "{{ last_t2i_adapter_uris }} {{ last_unet_uri }} {{ last_text_encoder_uris }} "
        "{{ last_image_encoder_uri }} {{ last_textual_inversion_uris }}\n"
        "\\templates_help last_second_model_unet_uri last_second_model_text_encoder_uris\n")
    result = run_cli("--file", str(script))
    assert result.exit_code == 0, result.stderr
    assert "True AutoencoderKL None None None None None None None None" in result.stdout
    assert '"last_second_model_unet_uri"' in result.stdout
    assert '"last_second_model_text_encoder_uris"' in result.stdout
