"""Geometric operations: crop, crop-to-mask, resize and letterbox (Pillow)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from PIL import Image

from dgenerate.plugin_api import Arg, ImageProcessor
from dgenerate.plugin_api.errors import DgenerateError, PluginArgumentError, ValueSyntaxError
from dgenerate.plugin_api.values import Padding, Size, align_size, parse_padding, parse_size

from .common import (
    MAX_IMAGE_SIDE,
    RESAMPLING,
    Box,
    Color,
    ProcessorChain,
    argument_error,
    as_box,
    check_range,
    check_result_size,
    check_size,
    fit_inside,
    load_image,
    owner,
    pad_box,
    resize_image,
    rgb_or_rgba,
    scaled_mask_bounds,
    scaled_size,
    short_form,
    split_alpha,
)


class Crop(ImageProcessor):
    """Cut a rectangle out of the image.

    The result is the part of the image inside box, so its size is the
    box's width and height. An alpha channel is kept; other modes become RGB.

    Arguments:

    - box (required): the rectangle LEFTxTOPxRIGHTxBOTTOM in pixels,
      counted from the top-left corner; the right and bottom edges are not
      included, so 0x0x100x50 keeps 100x50 pixels. The box must lie inside
      the image (remember that processors run after dgenerate's resize unless
      pre-resize=true).
    """

    def __init__(self, *,
                 box: Annotated[Box, Arg(help="the rectangle LEFTxTOPxRIGHTxBOTTOM to keep")],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.box = as_box("crop", "box", box)

    def process(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        if self.box.right > width or self.box.bottom > height:
            raise DgenerateError(
                f"{owner('crop')}: the box {self.box} reaches outside the "
                f"{width}x{height} image")
        return rgb_or_rgba(image).crop(tuple(self.box))


class CropToMask(ImageProcessor):
    """Crop the image to the bounding box of the white area of a mask, plus padding.

    Used to inpaint only the region around a mask at a higher resolution: crop
    the seed image and the mask with the same settings (and pre-resize=true
    so the crop happens at the original resolution), then put the result back
    with paste. Every pixel of the mask that is not pure black counts.
    The box grown by the padding is clipped to the image. A mask without any
    such pixel leaves the image unchanged. An alpha channel is kept; other
    modes become RGB.

    Arguments:

    - mask (default none): the mask, a file path or an http(s) URL (the
      first frame of an animation or video). A mask of another size is scaled
      to the image. Without it the processed image is its own mask, which is
      how a mask is cropped with --mask-image-processors.
    - mask-processors (default none): image processor URIs, separated by
      spaces, run on the mask before its bounds are measured, for example
      "invert".
    - padding (default none, no padding): pixels added around the mask's
      bounds: 32 on every side, 10x20 (horizontal x vertical) or
      LEFTxTOPxRIGHTxBOTTOM.
    """

    def __init__(
        self, *,
        mask: Annotated[str | None, Arg(help="mask file or URL; default: the image")] = None,
        mask_processors: Annotated[str | None, Arg(help="processors run on the mask")] = None,
        padding: Annotated[Padding | None, Arg(help="pixels around the mask bounds")] = None,
        context: Annotated[Any, Arg(hidden=True)] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(padding, (str, int)):
            padding = parse_padding(str(padding))
        self.padding = padding
        self.mask_processors = ProcessorChain(mask_processors, context=context,
                                              name="crop-to-mask", argument="mask-processors")
        self.mask = None
        if mask is not None:
            loaded = load_image(mask, context=context, name="crop-to-mask", argument="mask")
            self.mask = self.mask_processors(loaded)

    def process(self, image: Image.Image) -> Image.Image:
        mask = self.mask if self.mask is not None else self.mask_processors(image)
        bounds = scaled_mask_bounds(mask, image.size)
        if bounds is None:
            return image
        return rgb_or_rgba(image).crop(tuple(pad_box(bounds, self.padding, image.size)))


class Resize(ImageProcessor):
    """Resize the image to a size, by a scale factor, or to aligned dimensions.

    Give size or scale (not both); align alone rounds the current
    size. An alpha channel is kept; other modes become RGB. The result may
    have at most 16384 pixels per side (an input already larger keeps its
    size); a size, scale or align that would exceed that is an error.

    Arguments:

    - size (default none): the new size, WIDTH or WIDTHxHEIGHT, at most
      16384 per side. With aspect-correct (the default) only the width is
      used and the height follows from the image's aspect ratio, as
      everywhere in dgenerate.
    - scale (default none): a factor for both sides (2, 0.5) or
      X,Y factors for width and height (2,1.5); each larger than 0 and at
      most 16384.
    - align (default none): round both sides of the result to the nearest
      multiple of this number (at least one multiple), e.g. 8 for diffusion;
      1 to 16384.
    - aspect-correct (default true): keep the aspect ratio when size is
      given; false uses size exactly (a single number then means a square).
    - algo (default auto): the resampling filter: nearest, box,
      bilinear, hamming, bicubic or lanczos; auto uses
      Lanczos to shrink and bicubic to enlarge.
    """

    def __init__(
        self, *,
        size: Annotated[Size | None, Arg(help="new size: WIDTH or WIDTHxHEIGHT")] = None,
        scale: Annotated[float | tuple[float, float] | None,
                         Arg(help="factor, or X,Y factors")] = None,
        align: Annotated[int | None, Arg(help="round sides to a multiple of this")] = None,
        aspect_correct: Annotated[bool, Arg(help="height follows from the width")] = True,
        algo: Annotated[Literal["auto", "nearest", "box", "bilinear", "hamming", "bicubic",
                                "lanczos"], Arg(help="resampling filter")] = "auto",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if size is None and scale is None and align is None:
            raise PluginArgumentError(
                f"{owner('resize')} needs 'size', 'scale' or 'align'; with none of them "
                "there is nothing to resize")
        if size is not None and scale is not None:
            raise PluginArgumentError(
                f"{owner('resize')} accepts 'size' or 'scale', not both "
                f"(got size={size} and scale={scale})")
        if isinstance(size, str):
            size = parse_size(size)
        if size is not None:
            check_size("resize", "size", size)
        if scale is not None:
            scale = _scale_factors(scale)
        if align is not None:
            check_range("resize", "align", align, minimum=1, maximum=MAX_IMAGE_SIDE)
        if algo != "auto" and algo not in RESAMPLING:
            raise argument_error("resize", "algo", algo,
                                 "must be auto, " + ", ".join(RESAMPLING))
        self.size = size
        self.scale = scale
        self.align = align
        self.aspect_correct = aspect_correct
        self.algo = algo

    def target_size(self, source: tuple[int, int]) -> Size:
        """The result size for an input of size source, checked against the limits."""
        if self.size is not None:
            target = scaled_size(source, self.size, aspect_correct=self.aspect_correct)
        elif self.scale is not None:
            target = Size(max(1, round(source[0] * self.scale[0])),
                          max(1, round(source[1] * self.scale[1])))
        else:
            target = Size(*source)
        target = align_size(target, self.align) if self.align else target
        check_result_size("resize", self._cause(), target, source)
        return target

    def _cause(self) -> str:
        """The arguments that chose the size, for error messages."""
        if self.size is not None:
            cause = f"size={short_form(self.size)}"
        elif self.scale is not None:
            x, y = self.scale
            cause = f"scale={x:g}" if x == y else f"scale={x:g},{y:g}"
        else:
            cause = ""
        align = f"align={self.align}" if self.align else ""
        return " with ".join(part for part in (cause, align) if part)

    def process(self, image: Image.Image) -> Image.Image:
        return resize_image(rgb_or_rgba(image), self.target_size(image.size), self.algo)


def _scale_factors(scale: float | tuple[float, float]) -> tuple[float, float]:
    """resize's scale as (x, y); each finite, above 0 and at most MAX_IMAGE_SIDE."""
    factors = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
    if len(factors) != 2 or not all(0 < factor <= MAX_IMAGE_SIDE for factor in factors):
        shown = scale if isinstance(scale, (int, float)) else ",".join(map(str, scale))
        raise argument_error("resize", "scale", shown,
                             "must be one or two factors larger than 0 and at most "
                             f"{MAX_IMAGE_SIDE}")
    return float(factors[0]), float(factors[1])


class Letterbox(ImageProcessor):
    """Place the image inside a box of a fixed size, filling the rest with a colour.

    By default the image is scaled, keeping its aspect ratio, to the largest
    size that fits the box, and centred; the bars left over on two sides get
    box-color. The result is an RGB image of the box's size (a transparent
    image is laid over the box colour). Sizes and paddings are limited to
    16384 pixels per side, and so is the result (an input already larger
    keeps its size).

    Arguments:

    - box-size (required): the size of the result, WIDTH (a square) or
      WIDTHxHEIGHT. With box-is-padding=true it is padding around the
      image instead: 32, HORIZONTALxVERTICAL or LEFTxTOPxRIGHTxBOTTOM.
    - box-is-padding (default false): treat box-size as padding. The
      image keeps its size (or takes inner-size) and the result grows by
      the padding.
    - box-color (default black): the fill colour in hex, #RRGGBB or
      #RGB.
    - inner-size (default none): the size the image takes inside the box,
      WIDTH or WIDTHxHEIGHT, instead of the largest size that fits. It
      must fit inside the box.
    - aspect-correct (default true): keep the image's aspect ratio when it
      is scaled (to the box or to inner-size, whichever applies); false
      stretches it to exactly that size.
    """

    def __init__(
        self, *,
        box_size: Annotated[str, Arg(help="result size, or padding with box-is-padding")],
        box_is_padding: Annotated[bool, Arg(help="box-size is padding around the image")] = False,
        box_color: Annotated[Color | None, Arg(help="fill colour, hex; default black")] = None,
        inner_size: Annotated[Size | None, Arg(help="size of the image inside the box")] = None,
        aspect_correct: Annotated[bool, Arg(help="keep the image's aspect ratio")] = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        text = str(box_size)
        try:
            parsed: Size | Padding = (parse_padding(text, what="box-size") if box_is_padding
                                      else parse_size(text, what="box-size"))
        except ValueSyntaxError as error:
            raise PluginArgumentError(f"argument 'box-size' of {owner('letterbox')}: {error}"
                                      ) from None
        check_size("letterbox", "box-size", parsed)
        if isinstance(box_color, str):
            box_color = Color.from_uri_value(box_color)
        if isinstance(inner_size, str):
            inner_size = parse_size(inner_size)
        if inner_size is not None:
            check_size("letterbox", "inner-size", inner_size)
        if inner_size is not None and not box_is_padding and (
                inner_size.width > parsed.width or inner_size.height > parsed.height):
            raise argument_error("letterbox", "inner-size", str(inner_size),
                                 f"must fit inside box-size {parsed}")
        self.box = parsed
        self.box_is_padding = box_is_padding
        self.box_color = tuple(box_color) if box_color is not None else (0, 0, 0)
        self.inner_size = inner_size
        self.aspect_correct = aspect_correct

    def _inner(self, source: tuple[int, int]) -> Size:
        if self.inner_size is not None:
            limit = self.inner_size
        elif self.box_is_padding:
            return Size(*source)
        else:
            limit = Size(*self.box)
        return fit_inside(source, limit) if self.aspect_correct else Size(*limit)

    def process(self, image: Image.Image) -> Image.Image:
        inner = self._inner(image.size)
        if self.box_is_padding:
            left, top, right, bottom = self.box
            canvas_size = (inner.width + left + right, inner.height + top + bottom)
            position = (left, top)
            check_result_size("letterbox", f"box-size={short_form(self.box)} as padding",
                              canvas_size, image.size)
        else:
            canvas_size = tuple(self.box)
            position = ((canvas_size[0] - inner.width) // 2,
                        (canvas_size[1] - inner.height) // 2)
        rgb, alpha = split_alpha(image)
        rgb = resize_image(rgb, inner)
        if alpha is not None:
            alpha = resize_image(alpha, inner)
        canvas = Image.new("RGB", canvas_size, self.box_color)
        canvas.paste(rgb, position, alpha)
        return canvas
