"""Registration module of the ``deepfloyd`` plugin (light: no diffusers here)."""

from dgenerate.plugin_api import Capabilities, Mode, ModelTypeSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import (
    MODEL_CPU_OFFLOAD,
    MODEL_SEQUENTIAL_OFFLOAD,
    SAFETY_CHECKER,
    UPSCALER_NOISE_LEVELS,
)
from dgenerate.plugin_api.values import Size

# pixel-space stages: no VAE; T5 is the one text encoder
_SLOTS = {"unet", "text_encoder"}
_LOADING = (SAFETY_CHECKER, MODEL_CPU_OFFLOAD, MODEL_SEQUENTIAL_OFFLOAD)


@hookimpl
def dgenerate_model_types():
    yield ModelTypeSpec(
        name="if",
        summary="DeepFloyd IF stage I: small (64x64) images from a T5-encoded prompt; "
                "txt2img, img2img, inpaint.",
        target=".family:StageOne",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT},
                                  slots=_SLOTS, default_size=Size(64, 64)),
        options=_LOADING,
    )
    # stage II upscales a stage I image: the image seed itself (ifs), or floyd= beside the
    # image it was made from (ifs-img2img, and inpainting with either)
    yield ModelTypeSpec(
        name="ifs",
        summary="DeepFloyd IF stage II: the image seed (a stage I image) comes out 4 times "
                "larger; inpaints with floyd= and a mask.",
        target=".family:SuperResolution",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.IMG2IMG, Mode.INPAINT}, inputs={"floyd"},
                                  slots=_SLOTS),
        options=(UPSCALER_NOISE_LEVELS, *_LOADING),
    )
    yield ModelTypeSpec(
        name="ifs-img2img",
        summary="DeepFloyd IF stage II img2img: upscales the stage I image of floyd= guided "
                "by the image seed it varies.",
        target=".family:SuperResolutionImg2Img",
        requires=("torch", "diffusers"),
        capabilities=Capabilities(modes={Mode.IMG2IMG, Mode.INPAINT}, inputs={"floyd"},
                                  slots=_SLOTS),
        options=(UPSCALER_NOISE_LEVELS, *_LOADING),
    )
