"""Helpers shared by the image-ops processors.

Value types for URI arguments (boxes, colours), argument checks that raise
:class:`~dgenerate.plugin_api.errors.PluginArgumentError` naming the processor,
the argument and the value, the limits every processor shares (image sides,
kernel sizes, blur strength), loading of auxiliary images (masks, images to
paste) from files or URLs, processor chains given as an argument, mask bounds
and the resizing rules used by several processors.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from dgenerate.plugin_api import Category
from dgenerate.plugin_api.errors import DgenerateError, PluginArgumentError, ValueSyntaxError
from dgenerate.plugin_api.values import MAX_IMAGE_SIDE, Size, align_size, format_size, parse_padding

__all__ = [
    "MAX_IMAGE_SIDE",
    "MAX_KERNEL_SIZE",
    "MAX_SIGMA",
    "RESAMPLING",
    "Box",
    "BoxOrPadding",
    "Color",
    "Detection",
    "ProcessorChain",
    "argument_error",
    "as_box",
    "as_box_or_padding",
    "check_range",
    "check_result_size",
    "check_size",
    "fit_inside",
    "join_alpha",
    "kernel_size",
    "load_image",
    "mask_array",
    "mask_bounds",
    "owner",
    "pad_box",
    "parse_box",
    "parse_box_or_padding",
    "parse_color",
    "parse_position",
    "resample_for",
    "resize_image",
    "rgb_or_rgba",
    "scaled_mask_bounds",
    "scaled_size",
    "short_form",
    "split_alpha",
    "to_rgb",
]


def owner(name: str) -> str:
    """How messages name a processor: image processor 'crop'."""
    return f"image processor {name!r}"


def argument_error(name: str, argument: str, value: Any, requirement: str) -> PluginArgumentError:
    """An error for a value that has the right type but is not acceptable."""
    return PluginArgumentError(
        f"argument {argument!r} of {owner(name)} {requirement}, got {value!r}")


def _number(value: float) -> str:
    """128.0 -> "128", 0.5 -> "0.5": bounds read as they are written in the help."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"between {_number(minimum)} and {_number(maximum)}"
    if minimum is not None:
        return f"at least {_number(minimum)}"
    return f"at most {_number(maximum)}" if maximum is not None else ""


def check_range(name: str, argument: str, value: float, *, minimum: float | None = None,
                maximum: float | None = None) -> None:
    """Fail unless minimum <= value <= maximum (either bound may be left out).

    NaN and infinities always fail: comparisons with NaN are false, so they
    would otherwise slip through, and no argument of an image processor means
    anything when infinite.
    """
    bounds = _bounds(minimum, maximum)
    if isinstance(value, float) and not math.isfinite(value):
        raise argument_error(name, argument, value, f"must be a finite number {bounds}".strip())
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise argument_error(name, argument, value, f"must be {bounds}")


# ---------------------------------------------------------------------- limits
#
# Upper bounds shared by the image-ops processors. They are checked when a
# processor is created or, where the result depends on the input, before
# anything is allocated, so a typo such as size=99999999 is an error naming
# the argument instead of a memory error or an endless computation.

# MAX_IMAGE_SIDE (from the plugin API, shared with the kernel's sizes): the largest
# width or height of an image a processor creates or works at (an input already
# larger than this is not enlarged further)

#: the largest side, in pixels, of a blur kernel or structuring element
MAX_KERNEL_SIZE = 1024

#: the largest Gaussian standard deviation, in pixels; OpenCV derives kernels
#: of about 8 * sigma + 1 pixels from it, so this matches MAX_KERNEL_SIZE
MAX_SIGMA = 128.0


def check_size(name: str, argument: str, size: tuple[int, ...]) -> None:
    """Fail when a size (or padding) argument has a side larger than :data:`MAX_IMAGE_SIDE`."""
    if max(size) > MAX_IMAGE_SIDE:
        raise argument_error(name, argument, short_form(size),
                             f"must be at most {MAX_IMAGE_SIDE} pixels per side")


def short_form(sides: tuple[int, ...]) -> str:
    """A size or padding in its shortest form: 9x9 -> "9", 1x2x1x2 -> "1x2"."""
    if len(sides) == 4 and sides[:2] == sides[2:]:
        sides = sides[:2]
    if len(sides) == 2 and sides[0] == sides[1]:
        sides = sides[:1]
    return format_size(sides)


def check_result_size(name: str, cause: str, size: tuple[int, int],
                      source: tuple[int, int]) -> None:
    """Fail before creating an image of size when it exceeds :data:`MAX_IMAGE_SIDE`.

    A side may keep the size of a larger input, so processors still run on
    images that were already that large. cause names the argument and value
    responsible, e.g. "scale=3.0".
    """
    for side, source_side in zip(size, source, strict=True):
        if side > MAX_IMAGE_SIDE and side > source_side:
            raise DgenerateError(
                f"{owner(name)}: {cause} would make a {format_size(size)} image from the "
                f"{format_size(source)} input; results may have at most {MAX_IMAGE_SIDE} "
                "pixels per side")


# ----------------------------------------------------------------- value types


class Box(NamedTuple):
    """A rectangle LEFTxTOPxRIGHTxBOTTOM in pixels; right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def from_uri_value(cls, text: str) -> Box:
        return parse_box(text)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def __str__(self) -> str:
        return "x".join(map(str, self))


def _integers(text: str) -> list[int]:
    """"10x-20x30" -> [10, -20, 30]; raises ValueError for anything else."""
    return [int(part.strip()) for part in text.strip().lower().split("x")]


def parse_box(text: str, *, what: str = "box") -> Box:
    """Parse LEFTxTOPxRIGHTxBOTTOM (whole numbers, right > left, bottom > top)."""
    try:
        numbers = _integers(text)
    except (ValueError, AttributeError):
        numbers = []
    if len(numbers) != 4:
        raise ValueSyntaxError(
            f"{what} {text!r} is not LEFTxTOPxRIGHTxBOTTOM with four whole numbers, "
            "for example 100x50x400x300")
    box = Box(*numbers)
    if min(box) < 0:
        raise ValueSyntaxError(f"{what} {text!r} has a negative coordinate")
    if box.right <= box.left or box.bottom <= box.top:
        raise ValueSyntaxError(
            f"{what} {text!r} is empty: RIGHT must be larger than LEFT and BOTTOM larger "
            "than TOP")
    return box


def parse_position(text: str, *, what: str = "position") -> tuple[int, int] | Box:
    """Parse XxY (a top-left corner, may be negative) or a LEFTxTOPxRIGHTxBOTTOM box."""
    try:
        numbers = _integers(text)
    except (ValueError, AttributeError):
        numbers = []
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    if len(numbers) == 4:
        box = Box(*numbers)
        if box.right <= box.left or box.bottom <= box.top:
            raise ValueSyntaxError(
                f"{what} {text!r} is an empty box: RIGHT must be larger than LEFT and "
                "BOTTOM larger than TOP")
        return box
    raise ValueSyntaxError(
        f"{what} {text!r} is neither XxY nor LEFTxTOPxRIGHTxBOTTOM with whole numbers")


@dataclass(frozen=True)
class BoxOrPadding:
    """An area given as a box, or as an inset from the edges of each image.

    N keeps the image inset by N pixels on every side, HxV insets by H left
    and right and V top and bottom; LEFTxTOPxRIGHTxBOTTOM is a fixed box.
    The inset forms are resolved per image, so one URI suits images of any
    size (scripts written for dgenerate 5 use them with outpaint-mask).
    """

    box: Box | None = None
    inset: tuple[int, int] | None = None

    @classmethod
    def from_uri_value(cls, text: str) -> BoxOrPadding:
        return parse_box_or_padding(text)

    def resolve(self, size: tuple[int, int]) -> Box | None:
        """The box in an image of size; None when the inset leaves nothing."""
        if self.box is not None:
            return self.box
        horizontal, vertical = self.inset or (0, 0)
        width, height = size
        if 2 * horizontal >= width or 2 * vertical >= height:
            return None
        return Box(horizontal, vertical, width - horizontal, height - vertical)

    def __str__(self) -> str:
        if self.box is not None:
            return str(self.box)
        return "x".join(map(str, self.inset or (0, 0)))


def parse_box_or_padding(text: str, *, what: str = "box") -> BoxOrPadding:
    """Parse N or HxV (an inset from the edges) or LEFTxTOPxRIGHTxBOTTOM (a box)."""
    parts = text.strip().lower().split("x") if isinstance(text, str) else []
    if len(parts) == 4:
        return BoxOrPadding(box=parse_box(text, what=what))
    if len(parts) not in (1, 2):
        raise ValueSyntaxError(
            f"{what} {text!r} is not N, HORIZONTALxVERTICAL (an inset from the image's "
            "edges) or LEFTxTOPxRIGHTxBOTTOM with whole numbers")
    padding = parse_padding(text, what=what)
    return BoxOrPadding(inset=(padding.left, padding.top))


class Color(NamedTuple):
    """An RGB colour written in hex: #RRGGBB or #RGB (the # is optional)."""

    red: int
    green: int
    blue: int

    @classmethod
    def from_uri_value(cls, text: str) -> Color:
        return parse_color(text)

    def __str__(self) -> str:
        return "#{:02X}{:02X}{:02X}".format(*self)


def parse_color(text: str, *, what: str = "colour") -> Color:
    digits = text.strip().removeprefix("#") if isinstance(text, str) else ""
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    try:
        if len(digits) != 6:
            raise ValueError
        value = int(digits, 16)
    except ValueError:
        raise ValueSyntaxError(
            f"{what} {text!r} is not a hex colour such as #FF8800 or #F80") from None
    return Color((value >> 16) & 255, (value >> 8) & 255, value & 255)


# ---------------------------------------------------------------- image modes


def to_rgb(image: Image.Image) -> Image.Image:
    """The image in RGB mode (alpha is dropped, palettes expanded)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The RGB part of an image and its alpha channel, if it has one."""
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    return to_rgb(image), None


def join_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return rgb
    if alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.Resampling.BILINEAR)
    result = rgb.convert("RGBA")
    result.putalpha(alpha)
    return result


# ------------------------------------------------------------------- resizing

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def resample_for(source: tuple[int, int], target: tuple[int, int],
                 algo: str = "auto") -> Image.Resampling:
    """The Pillow filter for algo; auto is Lanczos to shrink, bicubic to enlarge."""
    if algo != "auto":
        return RESAMPLING[algo]
    shrinking = target[0] * target[1] < source[0] * source[1]
    return Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC


def resize_image(image: Image.Image, size: tuple[int, int], algo: str = "auto") -> Image.Image:
    size = (int(size[0]), int(size[1]))
    if image.size == size:
        return image
    return image.resize(size, resample_for(image.size, size, algo))


def scaled_size(source: tuple[int, int], size: Size, *, aspect_correct: bool,
                align: int | None = None) -> Size:
    """The size an image of source size gets for a requested size.

    Aspect correct sizing keeps the requested width and computes the height
    from the image's aspect ratio (dgenerate's usual rule); otherwise the size
    is used as given. align then rounds both sides to its nearest multiple.
    """
    width, height = size
    if aspect_correct:
        height = max(1, round(width * source[1] / source[0]))
    result = Size(width, height)
    return align_size(result, align) if align and align > 1 else result


def fit_inside(source: tuple[int, int], box: tuple[int, int]) -> Size:
    """The largest size with the aspect ratio of source that fits inside box."""
    scale = min(box[0] / source[0], box[1] / source[1])
    return Size(min(box[0], max(1, round(source[0] * scale))),
                min(box[1], max(1, round(source[1] * scale))))


# ------------------------------------------------------------------ masks


def mask_array(mask: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as a 2-D uint8 array (gray values), resized to size if given."""
    gray = mask.convert("L")
    if size is not None and gray.size != tuple(size):
        gray = gray.resize(tuple(size), Image.Resampling.BILINEAR)
    return np.asarray(gray)


def mask_bounds(mask: np.ndarray) -> Box | None:
    """The smallest box holding every pixel of mask that is not pure black, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(mask.any(axis=0))
    return Box(int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1)


def scaled_mask_bounds(mask: Image.Image, size: tuple[int, int]) -> Box | None:
    """:func:`mask_bounds` of a mask, in the coordinates of an image of ``size``.

    The bounds are measured on the mask as it is and then scaled, so a mask of
    another size gives the proportional box without resampling blur.
    """
    bounds = mask_bounds(mask_array(mask))
    if bounds is None or mask.size == tuple(size):
        return bounds
    scale_x, scale_y = size[0] / mask.size[0], size[1] / mask.size[1]
    left = min(size[0] - 1, math.floor(bounds.left * scale_x))
    top = min(size[1] - 1, math.floor(bounds.top * scale_y))
    return Box(left, top, max(left + 1, math.ceil(bounds.right * scale_x)),
               max(top + 1, math.ceil(bounds.bottom * scale_y)))


def pad_box(box: Box, padding: tuple[int, int, int, int] | None,
            size: tuple[int, int]) -> Box:
    """box grown by padding (left, top, right, bottom), clipped to an image of size."""
    left, top, right, bottom = padding or (0, 0, 0, 0)
    return Box(max(0, box.left - left), max(0, box.top - top),
               min(size[0], box.right + right), min(size[1], box.bottom + bottom))


# ------------------------------------------------------- auxiliary images


def load_image(reference: str, *, context: Any, name: str, argument: str) -> Image.Image:
    """Open the first frame of an image, animation or video file (or http(s) URL) as RGB."""
    is_url = reference.strip().lower().startswith(("http://", "https://"))
    try:
        if context is not None and hasattr(context, "open_media"):
            with context.open_media(reference) as media:
                frame = next(iter(media.frames(0, 0)))
                return to_rgb(frame).copy()
        if is_url:
            if context is None:
                raise DgenerateError("downloading needs the kernel's context")
            reference = context.fetch(reference)
        with Image.open(reference) as image:
            return to_rgb(image).copy()
    except DgenerateError as error:
        raise PluginArgumentError(f"argument {argument!r} of {owner(name)}: {error}") from None
    except (OSError, ValueError, StopIteration) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise PluginArgumentError(
            f"argument {argument!r} of {owner(name)}: cannot read the image {reference!r}: "
            f"{reason}") from None


class ProcessorChain:
    """Image processors given as one argument: URIs separated by spaces, run in order.

    A URI containing spaces is quoted, shell style:
    mask-processors="invert 'gaussian-blur;size=9'".
    """

    def __init__(self, text: str | None, *, context: Any, name: str, argument: str) -> None:
        self.processors: list[Any] = []
        if text is None or not text.strip():
            return
        try:
            uris = shlex.split(text)
        except ValueError as error:
            raise argument_error(name, argument, text,
                                 f"is not a list of processor URIs ({error})") from None
        if context is None:
            raise PluginArgumentError(
                f"argument {argument!r} of {owner(name)} needs the kernel's context to "
                "create processors; create this processor through the kernel")
        for uri in uris:
            try:
                self.processors.append(context.create(Category.IMAGE_PROCESSOR, uri))
            except DgenerateError as error:
                raise PluginArgumentError(
                    f"argument {argument!r} of {owner(name)}: {error}") from None

    def __bool__(self) -> bool:
        return bool(self.processors)

    def __call__(self, image: Image.Image) -> Image.Image:
        for processor in self.processors:
            image = processor(image)
        return image


def kernel_size(name: str, argument: str, value: int | tuple[int, int]) -> tuple[int, int]:
    """A kernel size given as one number (square) or a :class:`Size`, as (width, height).

    Each side must lie between 1 and :data:`MAX_KERNEL_SIZE`.
    """
    width, height = (value, value) if isinstance(value, int) else value
    given = value if isinstance(value, int) else format_size(value)
    if width < 1 or height < 1:
        raise argument_error(name, argument, given, "must be at least 1 pixel in each direction")
    if width > MAX_KERNEL_SIZE or height > MAX_KERNEL_SIZE:
        raise argument_error(name, argument, given,
                             f"must be at most {MAX_KERNEL_SIZE} pixels in each direction")
    return int(width), int(height)


class Detection:
    """The detect-resolution, detect-aspect and detect-align arguments.

    Detectors run at resolution (sized like :func:`scaled_size`, aligned to
    align) and their result is resized back to the size of the input.
    """

    def __init__(self, name: str, resolution: Size | None, aspect: bool, align: int) -> None:
        check_range(name, "detect-align", align, minimum=1, maximum=MAX_IMAGE_SIDE)
        if resolution is not None:
            check_size(name, "detect-resolution", resolution)
        self.name = name
        self.resolution = resolution
        self.aspect = aspect
        self.align = align

    def size_for(self, source: tuple[int, int]) -> Size:
        """The detection size for an input of size source, checked against the limits."""
        if self.resolution is None:
            size = align_size(source, self.align) if self.align > 1 else Size(*source)
            cause = f"detect-align={self.align}"
        else:
            size = scaled_size(source, self.resolution, aspect_correct=self.aspect,
                               align=self.align)
            cause = f"detect-resolution={short_form(self.resolution)}"
        check_result_size(self.name, cause, size, source)
        return size

    def prepare(self, image: Image.Image) -> Image.Image:
        """The RGB image at the detection size."""
        return resize_image(to_rgb(image), self.size_for(image.size))

    @staticmethod
    def restore(result: Image.Image, source: tuple[int, int]) -> Image.Image:
        """The detector's result at the input size again."""
        return resize_image(result, source)


def rgb_or_rgba(image: Image.Image) -> Image.Image:
    """RGB and RGBA images as they are; other modes as RGBA when they carry alpha, else RGB."""
    if image.mode in ("RGB", "RGBA"):
        return image
    rgb, alpha = split_alpha(image)
    return join_alpha(rgb, alpha)


def as_box(name: str, argument: str, value: Box | str) -> Box:
    """Accept a parsed :class:`Box` (from a URI) or its text (from Python callers)."""
    if isinstance(value, str):
        try:
            return parse_box(value)
        except ValueSyntaxError as error:
            raise PluginArgumentError(f"argument {argument!r} of {owner(name)}: {error}") from None
    return Box(*value)


def as_box_or_padding(name: str, argument: str, value: BoxOrPadding | Box | str
                      ) -> BoxOrPadding:
    """Accept a parsed :class:`BoxOrPadding` (from a URI), a :class:`Box`, or text."""
    if isinstance(value, BoxOrPadding):
        return value
    if isinstance(value, str):
        try:
            return parse_box_or_padding(value)
        except ValueSyntaxError as error:
            raise PluginArgumentError(f"argument {argument!r} of {owner(name)}: {error}") from None
    return BoxOrPadding(box=Box(*value))
