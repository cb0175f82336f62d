"""Registration module of the ``textual-inversion`` plugin (light: no torch or diffusers here)."""

from __future__ import annotations

from dgenerate.plugin_api import OptionSpec, SubModelSpec, hookimpl
from dgenerate.plugin_api.diffusion.options import model_uri

__all__ = ["TEXTUAL_INVERSIONS"]

DGENERATE_API_VERSION = "0.3"

TEXTUAL_INVERSIONS = OptionSpec(
    flags=("-ti", "--textual-inversions"), type=model_uri, several=True, metavar="URI",
    name="textual_inversion_uris", group="model loading",
    help="Textual inversions (embeddings) to load into the text encoders: each teaches the "
         "model a new prompt word. A URI is a Hugging Face repository (owner/name), a folder, "
         "an embedding file (.safetensors, .pt, .pth, .bin, .ckpt) or an http(s) URL of one "
         "(downloaded into the web cache; Hugging Face blob links are refused: give the "
         "repository and weight-name). Arguments: token (the prompt word; by default the "
         "one stored in a Stable Diffusion embedding, or for Stable Diffusion XL and Flux the "
         "file name without its extension, spaces made underscores), revision, subfolder and "
         "weight-name (the file in the repository or folder). A single file or URL takes "
         'only token. Example: "owner/embeddings;weight-name=style.pt;token=<style>".')


@hookimpl
def dgenerate_sub_models():
    yield SubModelSpec(
        name="textual-inversion", slot="textual_inversion",
        summary="Textual inversion embeddings: new prompt words (--textual-inversions).",
        target=".loader:TextualInversions",
        options=(TEXTUAL_INVERSIONS,))
