"""Example plugin: a model type (a family of diffusion models) with an option of its own.

    dgenerate --plugin-modules examples/writing_plugins/model_type --model-type help
    dgenerate MODEL --plugin-modules examples/writing_plugins/model_type \
        --model-type sd-ddim-eta --eta-values 0 0.5 1 --inference-steps 20

``sd-ddim-eta`` renders Stable Diffusion 1.x/2.x models with the DDIM scheduler and
tries every value of ``--eta-values``: the eta of the DDIM paper, from 0 (deterministic
DDIM) to 1 (as much fresh noise per step as DDPM). Each value is one more column of the
job grid, written into file names as ``_eta_<value>`` and into ``--output-configs``.

This file is the *registration module*: it declares the model type and its options
with plain records and imports nothing heavy. ``family.py`` (the ``target``) holds the
implementation and may import torch and diffusers at the top: it is imported only when
the model type renders.
"""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, OptionSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import CLIP_SKIPS, unit_float

#: the option this family owns; the kernel parses it, expands it and names files with it
ETA_VALUES = OptionSpec(
    flags=("--eta-values",),
    type=unit_float,          # "0.5" -> 0.5; anything outside 0..1 is an error naming it
    axis=True,                # several values: every one is rendered
    default=(0.0,),           # deterministic DDIM unless asked otherwise
    metavar="FLOAT",
    token="eta",              # file names get _eta_0-5
    position=450,             # after the kernel's _i_<steps> (400), before _cs_ (500)
    group="ddim eta",         # the --help section (by default the plugin's name)
    help="DDIM eta values to try, from 0 (deterministic) to 1 (DDPM-like noise).",
)


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="sd-ddim-eta",
        summary="Stable Diffusion 1.x/2.x with DDIM, trying several --eta-values.",
        target=".family:DDIMEta",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT}),
        # CLIP_SKIPS is shared with the builtin sd and sdxl families: equal
        # declarations merge into one option that applies to all of them
        options=(ETA_VALUES, CLIP_SKIPS),
    )
