"""Registration module of the ``stable-diffusion`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import ModelTypeSpec, hookimpl


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="sd",
        summary="Stable Diffusion 1.x and 2.x (v-prediction too): txt2img, img2img, inpaint.",
        target=".model_type:StableDiffusion",
        requires=("torch", "diffusers"),
    )
