"""Compositing: paste one image onto another (NumPy and Pillow)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.errors import DgenerateError, PluginArgumentError, ValueSyntaxError
from dgenerate.plugin_api.values import Padding, parse_padding

from .common import (
    MAX_IMAGE_SIDE,
    Box,
    ProcessorChain,
    argument_error,
    check_range,
    load_image,
    mask_array,
    owner,
    pad_box,
    parse_position,
    resize_image,
    scaled_mask_bounds,
    split_alpha,
)

_NAME = "paste"
_FEATHER_SHAPES = {"rectangle": "rectangle", "rect": "rectangle",
                   "ellipse": "ellipse", "circle": "ellipse"}


def feather_alpha(width: int, height: int, feather: int, shape: str) -> np.ndarray:
    """Opacity (0 to 1) of a width x height pasted image whose edges fade out.

    rectangle: opacity rises linearly over feather pixels from each
    edge. ellipse: the opaque part is the ellipse inscribed in the image,
    fading out over feather pixels towards its rim; the corners are clear.
    """
    if feather <= 0:
        return np.ones((height, width), dtype=np.float32)
    if shape == "rectangle":
        x = np.arange(width, dtype=np.float32)
        y = np.arange(height, dtype=np.float32)
        from_x = np.minimum(x, width - 1 - x)
        from_y = np.minimum(y, height - 1 - y)
        distance = np.minimum(from_y[:, None], from_x[None, :])
        return np.clip((distance + 1) / (feather + 1), 0, 1).astype(np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    radius_x, radius_y = width / 2, height / 2
    normalised = np.sqrt(((x + 0.5 - radius_x) / radius_x) ** 2
                         + ((y + 0.5 - radius_y) / radius_y) ** 2)
    # distance inside the rim, measured along the shorter radius
    distance = (1 - normalised) * min(radius_x, radius_y)
    return np.clip(distance / feather, 0, 1).astype(np.float32)


def _check_position(text: str | None, position: tuple[int, int] | Box | None) -> None:
    """Bound a position box: the pasted image is resized to it before anything is cut off."""
    if isinstance(position, Box) and max(position.width, position.height) > MAX_IMAGE_SIDE:
        raise argument_error(_NAME, "position", text,
                             f"must be a box at most {MAX_IMAGE_SIDE} pixels wide and high")


class Paste(ImageProcessor):
    """Paste an image onto the processed image, or the processed image onto another one.

    By default image is pasted onto the image being processed. With
    reverse=true the image being processed is pasted onto image
    instead: this is how a generated close-up (made from crop or
    crop-to-mask inputs) is put back into the original picture with
    --post-processors. The result is an RGB image the size of the image
    pasted onto (the background); whatever falls outside it is cut off. A
    pasted image with alpha is blended by its alpha.

    Where it goes (position and position-mask exclude each other;
    without either the pasted image goes to the top-left corner):

    - position: XxY puts the top-left corner of the pasted image there
      (negative values are allowed); a box LEFTxTOPxRIGHTxBOTTOM scales the
      pasted image to fill that box, which may be at most 16384 pixels wide
      and high.
    - position-mask: a mask (file or URL) whose bounding box of non-black
      pixels, grown by position-mask-padding (32, HxV or LxTxRxB,
      clipped to the background), is the box to fill. A mask of another size
      is scaled to the background. position-mask-processors runs image
      processors (URIs separated by spaces) on it first.

    How it blends:

    - feather (default none): fade the edges of the pasted image out over
      this many pixels (0 to 16384), for a seamless transition.
    - feather-shape (default rectangle): rectangle fades along the
      four edges; ellipse (or circle) keeps only the inscribed ellipse
      opaque and fades towards its rim.
    - mask (default none): a mask over the background (file or URL, scaled
      to the background's size): pasted pixels show where it is white, the
      background stays where it is black, gray values blend. Combined with
      feathering when both are given. mask-processors runs image
      processors on it first.

    Other arguments:

    - image (required): the other image, a file path or an http(s) URL (the
      first frame of an animation or video).
    - image-processors (default none): image processor URIs, separated by
      spaces, run on image once when it is loaded.
    - reverse (default false): paste the processed image onto image.
    """

    def __init__(
        self, *,
        image: Annotated[str, Arg(help="the other image: file or URL")],
        image_processors: Annotated[str | None, Arg(help="processors run on image")] = None,
        position: Annotated[str | None, Arg(help="XxY corner or LxTxRxB box")] = None,
        feather: Annotated[int | None, Arg(help="fade the pasted edges over N pixels")] = None,
        feather_shape: Annotated[str, Arg(help="rectangle or ellipse")] = "rectangle",
        mask: Annotated[str | None, Arg(help="mask over the background")] = None,
        mask_processors: Annotated[str | None, Arg(help="processors run on mask")] = None,
        position_mask: Annotated[str | None, Arg(help="mask whose bounds are the box")] = None,
        position_mask_padding: Annotated[Padding | None,
                                         Arg(help="padding around position-mask")] = None,
        position_mask_processors: Annotated[str | None,
                                            Arg(help="processors run on position-mask")] = None,
        reverse: Annotated[bool, Arg(help="paste the processed image onto image")] = False,
        context: Annotated[Any, Arg(hidden=True)] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if position is not None and position_mask is not None:
            raise PluginArgumentError(
                f"{owner(_NAME)} accepts 'position' or 'position-mask', not both")
        if position_mask is None and (position_mask_padding is not None
                                      or position_mask_processors is not None):
            raise PluginArgumentError(
                f"{owner(_NAME)}: 'position-mask-padding' and 'position-mask-processors' "
                "need 'position-mask'")
        if mask is None and mask_processors is not None:
            raise PluginArgumentError(f"{owner(_NAME)}: 'mask-processors' needs 'mask'")
        self.position: tuple[int, int] | Box | None = None
        if position is not None:
            try:
                self.position = parse_position(position)
            except ValueSyntaxError as error:
                raise PluginArgumentError(
                    f"argument 'position' of {owner(_NAME)}: {error}") from None
        _check_position(position, self.position)
        if feather is not None:
            check_range(_NAME, "feather", feather, minimum=0, maximum=MAX_IMAGE_SIDE)
        self.feather = feather or 0
        shape = _FEATHER_SHAPES.get(str(feather_shape).strip().lower())
        if shape is None:
            raise argument_error(_NAME, "feather-shape", feather_shape,
                                 "must be rectangle or ellipse")
        self.feather_shape = shape
        if isinstance(position_mask_padding, (str, int)):
            position_mask_padding = parse_padding(str(position_mask_padding))
        self.position_mask_padding = position_mask_padding
        self.reverse = reverse

        def loaded(reference: str | None, processors: str | None,
                   argument: str) -> Image.Image | None:
            chain = ProcessorChain(processors, context=context, name=_NAME,
                                   argument=f"{argument}-processors")
            if reference is None:
                return None
            return chain(load_image(reference, context=context, name=_NAME, argument=argument))

        self.image = loaded(image, image_processors, "image")
        self.mask = loaded(mask, mask_processors, "mask")
        self.position_mask = loaded(position_mask, position_mask_processors, "position-mask")

    def _box(self, background: tuple[int, int], pasted: tuple[int, int]) -> Box:
        if self.position_mask is not None:
            bounds = scaled_mask_bounds(self.position_mask, background)
            if bounds is None:
                raise DgenerateError(
                    f"{owner(_NAME)}: 'position-mask' is black everywhere, so it gives no "
                    "place to paste")
            return pad_box(bounds, self.position_mask_padding, background)
        if isinstance(self.position, Box):
            return self.position
        x, y = self.position or (0, 0)
        return Box(x, y, x + pasted[0], y + pasted[1])

    def process(self, image: Image.Image) -> Image.Image:
        background, pasted = (self.image, image) if self.reverse else (image, self.image)
        background, _ = split_alpha(background)
        pasted, pasted_alpha = split_alpha(pasted)
        box = self._box(background.size, pasted.size)
        pasted = np.asarray(resize_image(pasted, (box.width, box.height)), dtype=np.float32)
        alpha = feather_alpha(box.width, box.height, self.feather, self.feather_shape)
        if pasted_alpha is not None:
            resized = resize_image(pasted_alpha, (box.width, box.height))
            alpha = alpha * (np.asarray(resized, dtype=np.float32) / 255)

        result = np.array(background, dtype=np.float32)
        height, width = result.shape[:2]
        left, top = max(0, box.left), max(0, box.top)
        right, bottom = min(width, box.right), min(height, box.bottom)
        if right <= left or bottom <= top:
            return background  # the box lies entirely outside the background
        inside = (slice(top - box.top, bottom - box.top), slice(left - box.left, right - box.left))
        region = (slice(top, bottom), slice(left, right))
        weight = alpha[inside]
        if self.mask is not None:
            weight = weight * (mask_array(self.mask, (width, height))[region] / 255)
        weight = weight[..., None]
        result[region] = result[region] * (1 - weight) + pasted[inside] * weight
        return Image.fromarray(np.clip(np.rint(result), 0, 255).astype(np.uint8), "RGB")
