"""Inpainting without a model: PatchMatch, through the PyPatchMatch package.

PyPatchMatch (pip install pypatchmatch, import name patchmatch) ships
wheels with the compiled library and a statically linked OpenCV, so nothing
needs to be built. The processor is registered with requires=("patchmatch",):
without the package, listings mark it unavailable and using it names the module.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.errors import PluginArgumentError, PluginError

from .common import ProcessorChain, check_range, load_image, mask_array, owner, to_rgb

_NAME = "patchmatch"

#: mask values from this one up mark the pixels to fill (like diffusers, which binarises at 0.5)
HOLE_THRESHOLD = 128

#: the largest patch radius: a patch of 2 * 64 + 1 pixels is far beyond useful and already slow
MAX_PATCH_SIZE = 64


class PatchMatch(ImageProcessor):
    """Fill the white area of a mask with texture copied from the rest of the image.

    The PatchMatch algorithm (Barnes et al., 2009) repeatedly finds, for every
    small patch in the hole, a similar patch in the known part of the image
    and rebuilds the hole from them, coarse to fine. No model is downloaded.
    Good for removing objects from simple backgrounds, or for giving
    diffusion inpainting or outpainting a plausible start instead of a blank
    area. Pixels outside the hole keep their values; the result is an RGB
    image the size of the image that is inpainted.

    Give exactly one of mask and image:

    - mask: the processed image is inpainted, and this file or URL is the
      mask (white = fill; values of 128 and up count). Use it in
      --seed-image-processors or --post-processors.
      mask-processors runs image processors (URIs separated by spaces) on
      the mask first.
    - image: the processed image is the mask, and this file or URL is the
      image to inpaint. image-processors runs image processors on it first.

    A mask of another size is scaled to the image. Animations and videos given
    as mask or image contribute their first frame.

    Other arguments:

    - patch-size (default 5): the radius of the compared patches, 1 to 64
      (a patch spans 2 * patch-size + 1 pixels). Larger patches continue
      larger structures but are much slower.
    - seed (default none): the seed of the randomised search; the same seed
      and inputs give the same result. Without it every run differs a little.
    """

    def __init__(
        self, *,
        mask: Annotated[str | None, Arg(help="mask file or URL (white = fill)")] = None,
        mask_processors: Annotated[str | None, Arg(help="processors run on mask")] = None,
        image: Annotated[str | None, Arg(help="image to inpaint; the input is the mask")] = None,
        image_processors: Annotated[str | None, Arg(help="processors run on image")] = None,
        patch_size: Annotated[int, Arg(help="patch radius in pixels")] = 5,
        seed: Annotated[int | None, Arg(help="seed of the randomised search")] = None,
        context: Annotated[Any, Arg(hidden=True)] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if (mask is None) == (image is None):
            raise PluginArgumentError(
                f"{owner(_NAME)} needs exactly one of 'mask' (the input is the image to "
                "inpaint) and 'image' (the input is the mask)")
        if mask is None and mask_processors is not None:
            raise PluginArgumentError(f"{owner(_NAME)}: 'mask-processors' needs 'mask'")
        if image is None and image_processors is not None:
            raise PluginArgumentError(f"{owner(_NAME)}: 'image-processors' needs 'image'")
        check_range(_NAME, "patch-size", patch_size, minimum=1, maximum=MAX_PATCH_SIZE)
        self.patch_size = patch_size
        self.seed = seed
        reference, processors, argument = ((mask, mask_processors, "mask") if mask is not None
                                           else (image, image_processors, "image"))
        chain = ProcessorChain(processors, context=context, name=_NAME,
                               argument=f"{argument}-processors")
        self.other = chain(load_image(reference, context=context, name=_NAME,
                                      argument=argument))
        self.input_is_mask = image is not None

    def process(self, image: Image.Image) -> Image.Image:
        import patchmatch

        if not patchmatch.patchmatch_available:
            raise PluginError(f"{owner(_NAME)}: the PyPatchMatch native library could not be "
                              "loaded; reinstall the pypatchmatch package")
        picture, mask = (self.other, image) if self.input_is_mask else (image, self.other)
        pixels = np.asarray(to_rgb(picture))
        holes = mask_array(mask, picture.size) >= HOLE_THRESHOLD
        if not holes.any():
            return to_rgb(picture)
        seed = self.seed if self.seed is not None else secrets.randbits(32)
        patchmatch.set_random_seed(seed % 2**32)
        filled = patchmatch.inpaint(pixels, holes.astype(np.uint8) * 255,
                                    patch_size=self.patch_size)
        return Image.fromarray(np.ascontiguousarray(filled, dtype=np.uint8), "RGB")
