"""The ``--image-seeds`` grammar: what inputs one generation group uses.

One image seed names the inputs of a group of generations::

    seed.png                          img2img (or the control image, with ControlNets)
    seed.png;mask.png                 inpainting
    seed.png;512x512 / seed.png;1024  ... with a per-seed resize (one number is the width)
    seed.png;mask.png;512x512
    seed.png;mask=m.png;control=c1.png, c2.png;resize=512x512;aspect=false;align=64
    seed.gif;frame-start=3;frame-end=10
    images: a.png, b.png;mask=ma.png, mb.png     img2img inputs batched together
    latents: a.pt, b.pt                          raw latents, no img2img image
    adapter: a.png + b.png|resize=256, c.png     IP-adapter images (txt2img)

Parts are separated by ``;``; lists by ``,``; values may be quoted (``"a;b.png"``)
to protect those characters, as in plugin URIs. The short (positional) form
gives the mask and size by position; as soon as a component is given by
keyword (``mask=``, ``control=`` ...), every component must be. ``align``,
``frame-start`` and ``frame-end`` may follow either form.

The grammar is dgenerate's own, so the parser is hand-written on top of the
URI splitter.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from dgenerate.plugin_api.diffusion.latents_files import TENSOR_EXTENSIONS
from dgenerate.plugin_api.errors import DgenerateError, ValueSyntaxError
from dgenerate.plugin_api.values import (
    MAX_IMAGE_SIDE,
    align_size,
    format_size,
    parse_bool,
    parse_int,
)

__all__ = ["AdapterImage", "ImageSeed", "ImageSeedError", "Resize", "is_tensor_file",
           "parse_image_seed", "split_list", "without_frame_slice"]

_SIZE = re.compile(r"^\s*\d+\s*(x\s*\d+\s*)?$", re.IGNORECASE)
_COMPONENT_KEYWORDS = ("mask", "control", "adapter", "latents", "floyd", "resize")
_KEYWORDS = (*_COMPONENT_KEYWORDS, "aspect", "align", "frame-start", "frame-end")


class ImageSeedError(DgenerateError):
    """A malformed ``--image-seeds`` value."""


@dataclasses.dataclass(frozen=True)
class Resize:
    """A per-seed resize: a width, and a height unless only the width was given."""

    width: int
    height: int | None = None


@dataclasses.dataclass(frozen=True)
class AdapterImage:
    """One IP-adapter image with its own ``|resize=...|align=...|aspect=...`` options."""

    path: str
    resize: Resize | None = None
    align: int = 1
    aspect: bool = True


@dataclasses.dataclass(frozen=True)
class ImageSeed:
    """A parsed image seed; paths are as written (files, URLs, tensor files)."""

    text: str
    images: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()
    control: tuple[str, ...] = ()
    adapters: tuple[tuple[AdapterImage, ...], ...] = ()
    latents: tuple[str, ...] = ()
    floyd: str | None = None
    resize: Resize | None = None
    aspect: bool | None = None
    align: int | None = None
    frame_start: int | None = None
    frame_end: int | None = None
    batched: bool = False  # "images:" form


def is_tensor_file(path: str) -> bool:
    """Latents saved by dgenerate (``.pt``, ``.pth``, ``.safetensors``)."""
    return path.lower().split("?")[0].endswith(tuple("." + ext for ext in TENSOR_EXTENSIONS))


def _fail(text: str, message: str) -> ImageSeedError:
    return ImageSeedError(f"image seed {text!r}: {message}")


_OPENERS = ";,+|=:"
_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*=(.*)$", re.DOTALL)


def _split_raw(text: str, separator: str) -> list[str]:
    """Split at ``separator`` outside quotes, keeping the quotes.

    A quote opens a quoted region only at the start of an item (after one of
    ``; , + | = :`` or at the beginning), so apostrophes inside names are
    ordinary characters.
    """
    items: list[str] = []
    current: list[str] = []
    quote = None
    previous = ""  # the last non-blank character outside quotes
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
                previous = char
            continue
        if char in "\"'" and (not previous or previous in _OPENERS):
            quote = char
            current.append(char)
            continue
        if char == separator:
            items.append("".join(current))
            current = []
            previous = char
            continue
        current.append(char)
        if not char.isspace():
            previous = char
    if quote:
        raise ValueSyntaxError(f"{text!r} has a quote that is never closed")
    items.append("".join(current))
    return items


def _unquote(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
        return item[1:-1]
    return item


def split_list(text: str, separator: str = ",") -> list[str]:
    """Split at ``separator`` outside quotes; items are stripped and unquoted."""
    return [_unquote(item) for item in _split_raw(text, separator)]


def _paths(text: str, value: str, what: str) -> tuple[str, ...]:
    try:
        items = split_list(value)
    except ValueSyntaxError as error:
        raise _fail(text, str(error)) from None
    if any(not item for item in items):
        raise _fail(text, f"the {what} list {value!r} has an empty entry")
    return tuple(items)


def parse_resize(text: str, value: str) -> Resize:
    """``512x768`` or ``1024`` (a width; the height follows the aspect ratio)."""
    if not _SIZE.match(value):
        raise _fail(text, f"resize {value!r} is not WIDTHxHEIGHT or WIDTH")
    parts = [int(part) for part in value.lower().replace(" ", "").split("x")]
    if any(part < 1 for part in parts):
        raise _fail(text, f"resize {value!r} has a dimension below 1")
    if any(part > MAX_IMAGE_SIDE for part in parts):
        raise _fail(text, f"resize {value!r} has a dimension above the limit of "
                          f"{MAX_IMAGE_SIDE} pixels")
    return Resize(parts[0], parts[1] if len(parts) == 2 else None)


def _parse_align(text: str, value: str, *, multiple: int) -> int:
    try:
        align = parse_int(value, what="align", minimum=1)
    except ValueSyntaxError as error:
        raise _fail(text, str(error)) from None
    if align % multiple:
        raise _fail(text, f"align {align} must be a multiple of {multiple}")
    return align


def _parse_frame(text: str, key: str, value: str) -> int:
    try:
        return parse_int(value, what=key, minimum=0)
    except ValueSyntaxError as error:
        raise _fail(text, str(error)) from None


def _parse_bool(text: str, key: str, value: str) -> bool:
    try:
        return parse_bool(value, what=key)
    except ValueSyntaxError as error:
        raise _fail(text, str(error)) from None


def _parse_adapter_image(text: str, item: str) -> AdapterImage:
    path, *options = split_list(item, "|")
    if not path:
        raise _fail(text, f"adapter image {item!r} has no path")
    values: dict[str, object] = {}
    for option in options:
        key, equals, value = option.partition("=")
        key = key.strip().replace("_", "-")
        if not equals or key not in ("resize", "align", "aspect"):
            raise _fail(text, f"adapter image option {option!r} is not resize=, align= or aspect=")
        if key in values:
            raise _fail(text, f"adapter image option {key!r} is given twice")
        value = value.strip()
        if key == "resize":
            values["resize"] = parse_resize(text, value)
        elif key == "align":
            values["align"] = _parse_align(text, value, multiple=1)
        else:
            values["aspect"] = _parse_bool(text, "aspect", value)
    return AdapterImage(path, **values)  # type: ignore[arg-type]


def _parse_adapters(text: str, value: str) -> tuple[tuple[AdapterImage, ...], ...]:
    try:
        groups = split_list(value, ",")
        parsed = []
        for group in groups:
            images = split_list(group, "+")
            if any(not image for image in images):
                raise _fail(text, f"adapter image group {group!r} has an empty entry")
            parsed.append(tuple(_parse_adapter_image(text, image) for image in images))
    except ValueSyntaxError as error:
        raise _fail(text, str(error)) from None
    return tuple(parsed)


@dataclasses.dataclass(frozen=True)
class _Part:
    key: str | None  # lower case, with - for _
    value: str  # raw: list values are unquoted by split_list

    @classmethod
    def of(cls, raw: str) -> _Part:
        match = _KEY.match(raw)
        if match:
            return cls(match.group(1).lower().replace("_", "-"), match.group(2))
        return cls(None, raw.strip())


def _strip_prefix(body: str) -> tuple[str | None, str]:
    stripped = body.lstrip()
    for prefix in ("images", "latents", "adapter"):
        if stripped.lower().startswith(prefix + ":"):
            return prefix, stripped[len(prefix) + 1:]
    return None, body


def parse_image_seed(text: str) -> ImageSeed:
    """Parse one ``--image-seeds`` value; every problem raises :class:`ImageSeedError`."""
    if not isinstance(text, str) or not text.strip():
        raise ImageSeedError(f"image seed {text!r} is empty")
    prefix, body = _strip_prefix(text)
    try:
        raw_parts = _split_raw(body, ";")
    except ValueSyntaxError as error:
        raise _fail(text, str(error)) from None
    first, rest = raw_parts[0].strip(), [_Part.of(raw) for raw in raw_parts[1:]]
    if not first:
        raise _fail(text, "the first part (an image, or a list of images) is empty")
    if any(not part.value.strip() and part.key is None for part in rest):
        raise _fail(text, "it has an empty part (';' at the end, or ';;'); remove it, or quote "
                          "a path that contains ';'")

    fields: dict[str, object] = {}
    if prefix == "adapter":
        fields["adapters"] = _parse_adapters(text, first)
    elif prefix == "latents":
        items = _paths(text, first, "latents")
        items = tuple(item.removeprefix("latents:").strip() for item in items)
        if any(not is_tensor_file(item) for item in items):
            raise _fail(text, "latents: inputs must be tensor files (.pt, .pth, .safetensors)")
        fields["latents"] = items
    else:
        fields["images"] = _paths(text, first, "image")
        fields["batched"] = prefix == "images"

    positional = [part for part in rest if part.key is None]
    keywords = [part for part in rest if part.key is not None]
    _apply_positional(text, positional, fields)
    _apply_keywords(text, keywords, fields, positional_used=bool(positional))
    seed = ImageSeed(text=text, **fields)  # type: ignore[arg-type]
    _check(seed)
    return seed


def without_frame_slice(text: str) -> str:
    """``text`` with its own ``frame-start=``/``frame-end=`` parts removed.

    Output configs pin the frames with ``--frame-start``/``--frame-end``; a
    seed's own slice would win over those, so it is dropped from the seed.
    """
    prefix, body = _strip_prefix(text)
    first, *rest = _split_raw(body, ";")  # the first part is always the image, as in parsing
    kept = [raw for raw in rest if _Part.of(raw).key not in ("frame-start", "frame-end")]
    joined = ";".join([first, *kept])
    return f"{prefix}:{joined}" if prefix else joined


def _apply_positional(text: str, parts: Sequence, fields: dict[str, object]) -> None:
    if len(parts) > 2:
        raise _fail(text, "the short form takes at most a mask and a size after the image; "
                          "use keywords (mask=, resize= ...) for more")
    for index, part in enumerate(parts):
        value = part.value
        if _SIZE.match(value):
            if index != len(parts) - 1:
                raise _fail(text, f"the size {value!r} must come last in the short form")
            fields["resize"] = parse_resize(text, value.strip())
        elif index == 0:
            fields["masks"] = _paths(text, value, "mask")
        else:
            raise _fail(text, f"{value!r} is neither a size (WIDTHxHEIGHT) nor in a place "
                              "where a mask may be given")


def _apply_keywords(text: str, parts: Sequence, fields: dict[str, object], *,
                    positional_used: bool) -> None:
    seen: set[str] = set()
    for part in parts:
        key = part.key
        value = part.value.strip()
        if key not in _KEYWORDS:
            raise _fail(text, f"unknown argument {key!r}; the arguments are "
                              f"{', '.join(_KEYWORDS)}")
        if key in seen:
            raise _fail(text, f"the argument {key!r} is given twice")
        seen.add(key)
        if positional_used and (key in _COMPONENT_KEYWORDS or key == "aspect"):
            raise _fail(text, f"{key}= cannot be mixed with the short form (image;mask;size); "
                              "give every component as a keyword, e.g. image.png;mask=m.png")
        if not value and key != "floyd":
            raise _fail(text, f"the argument {key!r} has no value")
        if key == "mask":
            fields["masks"] = _paths(text, value, "mask")
        elif key == "control":
            fields["control"] = _paths(text, value, "control image")
        elif key == "adapter":
            fields["adapters"] = _parse_adapters(text, value)
        elif key == "latents":
            fields["latents"] = _paths(text, value, "latents")
        elif key == "floyd":
            fields["floyd"] = _unquote(value)
        elif key == "resize":
            fields["resize"] = parse_resize(text, value)
        elif key == "aspect":
            fields["aspect"] = _parse_bool(text, key, value)
        elif key == "align":
            fields["align"] = _parse_align(text, value, multiple=8)
        else:
            fields[key.replace("-", "_")] = _parse_frame(text, key, value)


def _check(seed: ImageSeed) -> None:
    text = seed.text
    if seed.resize is not None and seed.align is None:
        # like --output-size, a size must be aligned; with align= it is rounded down instead
        width, height = seed.resize.width, seed.resize.height
        misaligned = [side for side in (width, height) if side is not None and side % 8]
        if misaligned:
            aligned = align_size((width, height or width), 8)
            nearest = str(aligned.width) if height is None else format_size(aligned)
            raise _fail(text, f"the size {misaligned[0]} is not a multiple of 8 (the nearest "
                              f"is {nearest}); or give align= to round it down")
    if seed.frame_start is not None and seed.frame_end is not None and (
            seed.frame_start > seed.frame_end):
        raise _fail(text, f"frame-start {seed.frame_start} is after frame-end {seed.frame_end}")
    if seed.masks and not seed.images:
        raise _fail(text, "a mask needs an image to inpaint")
    if seed.masks and len(seed.masks) not in (1, len(seed.images)):
        raise _fail(text, f"{len(seed.masks)} masks were given for {len(seed.images)} images; "
                          "give one mask for all images or one per image")
    if len(seed.images) > 1 and not seed.batched and (seed.masks or seed.latents):
        raise _fail(text, "several images before ';' are control images, which take no mask "
                          "or latents; use the images: prefix to batch img2img inputs")
    if seed.latents and seed.images and len(seed.latents) not in (1, len(seed.images)):
        raise _fail(text, f"{len(seed.latents)} latents files were given for "
                          f"{len(seed.images)} images")
    for latents in seed.latents:
        if not is_tensor_file(latents):
            raise _fail(text, f"latents {latents!r} is not a tensor file "
                              "(.pt, .pth, .safetensors)")
    tensors = [is_tensor_file(path) for path in seed.images]
    if any(tensors) and not all(tensors):
        raise _fail(text, "the images are partly tensor files (latents) and partly images; "
                          "give one kind")
    for path in seed.masks:
        if is_tensor_file(path):
            raise _fail(text, f"mask {path!r} is a tensor file; masks must be images")
    for control in seed.control:
        if is_tensor_file(control):
            raise _fail(text, f"control image {control!r} is a tensor file; control images "
                              "must be images")
    for group in seed.adapters:
        for adapter in group:
            if is_tensor_file(adapter.path):
                raise _fail(text, f"adapter image {adapter.path!r} is a tensor file; IP adapter "
                                  "images must be images")
