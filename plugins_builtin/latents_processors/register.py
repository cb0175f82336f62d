"""Registration module of the ``latents-processors`` plugin (light: torch, diffusers and
the hub client are imported by the implementations only when a processor runs)."""

from dgenerate.plugin_api import LatentsProcessorSpec, hookimpl


@hookimpl
def dgenerate_latents_processors():
    yield LatentsProcessorSpec(
        name="scale",
        summary="Multiply latents by a factor, optionally normalized first and clamped after.",
        target=".scale:Scale",
        requires=("torch",),
    )
    yield LatentsProcessorSpec(
        name="noise",
        summary="Add the noise of a diffusion timestep, with the pipeline's scheduler.",
        target=".noise:Noise",
        requires=("torch", "diffusers"),
    )
    yield LatentsProcessorSpec(
        name="interposer",
        summary="Convert fully denoised latents to another model's latent space "
                "(SD-Latent-Interposer).",
        target=".interposer:Interposer",
        requires=("torch", "safetensors", "huggingface_hub"),
    )
