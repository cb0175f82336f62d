"""The inputs an image seed names: read (stills, animations, videos), resize, process.

Images, masks and control images of a seed are resized alike and must end up the
same size; IP adapter images keep their own sizes (only their ``|resize=`` applies).

Any image or mask of a seed may be animated. The shortest animation (after
slicing) decides the number of frames and still images repeat on every frame;
the first animation of the seed decides the frame rate. Frames are decoded
one at a time as the render loop asks for them, so a long video does not fill
memory. Image seed forms whose features are not built yet fail with a clear
message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.values import MAX_IMAGE_SIDE, Size, check_chain_groups

from ..imageseed import ImageSeed, Resize, is_tensor_file

if TYPE_CHECKING:
    from PIL.Image import Image

    from dgenerate.plugin_api.media.reading import Media

__all__ = ["SeedInputs", "SeedMedia", "check_image_seed", "open_image_seed", "target_size"]


@dataclasses.dataclass(frozen=True)
class SeedInputs:
    """The prepared inputs of one frame of an image seed: one image (and mask) per input.
    With ``tensors`` the images are latents tensors read from tensor files."""

    images: tuple[Any, ...]
    masks: tuple[Image, ...] = ()
    control: tuple[Image, ...] = ()
    adapters: tuple[tuple[Image, ...], ...] = ()
    latents: tuple[Any, ...] = ()
    floyd: Image | None = None
    tensors: bool = False

    @property
    def size(self) -> Size | None:
        """The size of the inputs (None with adapter images or tensors only: they set no
        size)."""
        sized = (*(() if self.tensors else self.images), *self.control)
        return Size(*sized[0].size) if sized else None


def _is_url(path: str) -> bool:
    return path.lower().startswith(("http://", "https://"))


def check_image_seed(seed: ImageSeed) -> None:
    """Everything about an image seed that can be known without a model: its form is
    supported, its URLs are well formed and its local files are images or videos that can
    be opened (URLs are downloaded when the job needs them)."""
    from dgenerate.plugin_api.media.reading import open_media
    from dgenerate.plugin_api.webcache import check_url

    for path in _paths(seed):
        if is_tensor_file(path) and not _is_url(path) and os.path.isfile(path):
            continue  # read when its job runs
        if _is_url(path):
            try:
                check_url(path)
            except DgenerateError as error:
                raise DgenerateError(f"image seed {seed.text!r}: {error}") from None
            continue
        try:
            open_media(path).close()
        except DgenerateError as error:
            raise DgenerateError(f"image seed {seed.text!r}: {error}") from None


def _paths(seed: ImageSeed) -> tuple[str, ...]:
    adapters = tuple(adapter.path for group in seed.adapters for adapter in group)
    return (*seed.images, *seed.masks, *seed.control, *adapters, *seed.latents,
            *((seed.floyd,) if seed.floyd else ()))


def _align_down(value: int, align: int) -> int:
    return max(align, (value // align) * align)


def target_size(original: Size, resize: Resize | None, *, aspect: bool, align: int) -> Size:
    """The size an input is resized to.

    Without ``resize`` the original size is aligned down to ``align``. With it,
    the width is fixed; the height follows the aspect ratio when ``aspect`` is
    true, else it is the given height (or the width, if only a width was given).
    """
    if resize is None:
        return Size(_align_down(original.width, align), _align_down(original.height, align))
    width = resize.width
    if aspect:
        height = max(1, math.floor(original.height * width / original.width + 0.5))
    else:
        height = resize.height if resize.height is not None else width
    return Size(_align_down(width, align), _align_down(height, align))


def _process(images: Sequence[Image], groups: Sequence[Sequence[Any]], option: str, *,
             before_resize: bool) -> list[Image]:
    """Run each input's chain: the processors marked ``pre_resize`` when ``before_resize``,
    the others otherwise (each group in its order)."""
    processed = list(images)
    if not groups:
        return processed
    check_chain_groups(groups, len(images), what=option)
    for index, chain in enumerate(groups):
        for processor in chain:
            if bool(getattr(processor, "pre_resize", False)) == before_resize:
                processed[index] = processor(processed[index])
    return processed


class SeedMedia:
    """The opened media of one image seed, yielding prepared inputs frame by frame."""

    def __init__(self, seed: ImageSeed, media: dict[str, list[Media]], *,
                 start: int, count: int, fps: float, resize: Resize | None, aspect: bool,
                 align: int, seed_processors: Sequence[Sequence[Any]],
                 mask_processors: Sequence[Sequence[Any]],
                 control_processors: Sequence[Sequence[Any]] = (),
                 tensors: Sequence[Any] = (), latents: Sequence[Any] = ()) -> None:
        self.seed = seed
        self._media = media  # images, masks, control, adapters (flattened groups), floyd
        self._tensors, self._latents = tuple(tensors), tuple(latents)
        self.start = start
        self.frame_count = count
        self.fps = fps
        self._resize, self._aspect, self._align = resize, aspect, align
        self._seed_processors = seed_processors
        self._mask_processors = mask_processors
        self._control_processors = control_processors

    @property
    def animated(self) -> bool:
        return self.frame_count > 1

    def _streams(self, media: list[Media]) -> list[Iterator[Image]]:
        streams = []
        for item in media:
            if item.animated:
                streams.append(item.frames(self.start, self.start + self.frame_count - 1))
            else:
                first = next(item.frames(0, 0))
                streams.append(_repeat(first))
        return streams

    def _resized(self, image: Image, resize: Resize | None, aspect: bool, align: int) -> Image:
        from PIL import Image as ImageModule

        size = target_size(Size(*image.size), resize, aspect=aspect, align=align)
        if size != image.size and max(size) > MAX_IMAGE_SIDE:
            raise DgenerateError(
                f"image seed {self.seed.text!r}: resizing the {image.size[0]}x"
                f"{image.size[1]} input to a width of {size.width} keeps its aspect ratio "
                f"with a height of {size.height}, above the limit of {MAX_IMAGE_SIDE} "
                "pixels; give a height too with aspect=false (or --no-aspect)")
        return image if image.size == size else image.resize(size, ImageModule.Resampling.LANCZOS)

    def _prepare(self, images: list[Image], masks: list[Image], control: list[Image],
                 adapters: list[Image], floyd: list[Image]) -> SeedInputs:
        from PIL import Image as ImageModule

        if self._tensors:  # tensor files: neither resized nor processed (see the manual)
            return SeedInputs(self._tensors, latents=self._latents, tensors=True)

        images = _process(images, self._seed_processors, "--seed-image-processors",
                          before_resize=True)
        masks = _process(masks, self._mask_processors, "--mask-image-processors",
                         before_resize=True)
        control = _process(control, self._control_processors, "--control-image-processors",
                           before_resize=True)
        resized, control = ([self._resized(image, self._resize, self._aspect, self._align)
                             for image in listed] for listed in (images, control))
        resized_masks = []
        for index, mask in enumerate(masks):
            size = resized[min(index, len(resized) - 1)].size
            resized_masks.append(mask if mask.size == size else
                                 mask.resize(size, ImageModule.Resampling.LANCZOS))
        processed = _process(resized, self._seed_processors, "--seed-image-processors",
                             before_resize=False)
        processed_masks = _process(resized_masks, self._mask_processors,
                                   "--mask-image-processors", before_resize=False)
        control = _process(control, self._control_processors, "--control-image-processors",
                           before_resize=False)
        sizes = {image.size for image in (*processed, *processed_masks, *control)}
        if len(sizes) > 1 and self._align > 1:  # image prompts (align 1) may differ
            listed = ", ".join(f"{width}x{height}" for width, height in sorted(sizes))
            raise DgenerateError(
                f"image seed {self.seed.text!r}: the images and masks end up with different "
                f"sizes ({listed}); give a size (resize=WxH;aspect=false or --output-size "
                "with --no-aspect) so that they match")
        flat = iter(self._resized(image, adapter.resize, adapter.aspect, adapter.align)
                    for image, adapter in zip(adapters, (adapter for group in self.seed.adapters
                                                         for adapter in group), strict=True))
        groups = tuple(tuple(next(flat) for _ in group) for group in self.seed.adapters)
        return SeedInputs(tuple(processed), tuple(processed_masks), tuple(control), groups,
                          self._latents, floyd[0] if floyd else None)

    def frames(self) -> Iterator[SeedInputs]:
        """The prepared inputs of each frame in turn (one item for stills)."""
        streams = {part: self._streams(media) for part, media in self._media.items()}
        for _ in range(self.frame_count):
            yield self._prepare(*([next(stream) for stream in streams[part]]
                                  for part in ("images", "masks", "control", "adapters",
                                               "floyd")))

    def close(self) -> None:
        for media in (item for listed in self._media.values() for item in listed):
            media.close()


def _repeat(image: Image) -> Iterator[Image]:
    while True:
        yield image


def open_image_seed(
    seed: ImageSeed,
    *,
    output_size: Size | None,
    no_aspect: bool,
    fetch: Callable[[str], str],
    frame_start: int | None = None,
    frame_end: int | None = None,
    seed_processors: Sequence[Sequence[Any]] = (),
    mask_processors: Sequence[Sequence[Any]] = (),
    control_processors: Sequence[Sequence[Any]] = (),
    image_prompts: bool = False,
) -> SeedMedia:
    """Open the media of ``seed`` and work out its frames.

    With ``image_prompts`` the images keep their sizes (no resize nor alignment; they may
    differ). ``frame_start``/``frame_end`` are the global slice; a seed that gives its own
    ``frame-start`` or ``frame-end`` uses its slice instead. Processors are callables
    (``image -> image``), one chain per input.
    """
    from dgenerate.plugin_api.diffusion.latents_files import read_latents
    from dgenerate.plugin_api.media.reading import check_slice, open_media

    opened: list[Media] = []

    def media_of(path: str, what: str) -> Media:
        local = fetch(path) if _is_url(path) else path
        try:
            media = open_media(local)
        except DgenerateError as error:
            where = "" if local == path else f"the {what} {path!r}, downloaded as "
            raise DgenerateError(f"image seed {seed.text!r}: {where}{error}") from None
        opened.append(media)
        return media

    try:
        tensors = [read_latents(fetch(path) if _is_url(path) else path)
                   for path in seed.images if is_tensor_file(path)]
        latents = [read_latents(fetch(path) if _is_url(path) else path) for path in seed.latents]
        media = {"images": [media_of(path, "image") for path in seed.images
                            if not is_tensor_file(path)],
                 "masks": [media_of(path, "mask") for path in seed.masks],
                 "control": [media_of(path, "control image") for path in seed.control],
                 "adapters": [media_of(adapter.path, "adapter image")
                              for group in seed.adapters for adapter in group],
                 "floyd": [media_of(seed.floyd, "floyd= image")] if seed.floyd else []}
        start, end = frame_start, frame_end
        if seed.frame_start is not None or seed.frame_end is not None:
            start, end = seed.frame_start, seed.frame_end  # the seed's own slice replaces it
        animated = [item for listed in media.values() for item in listed if item.animated]
        first_frame, count, fps = 0, 1, 0.0
        if animated:
            slices = [check_slice(media, start, end) for media in animated]
            first_frame = slices[0][0]
            count = min(last - first + 1 for first, last in slices)
            fps = animated[0].fps
        # an explicit --output-size wins over the seed's own size, as in dgenerate 5.0.0
        resize = Resize(*output_size) if output_size is not None else seed.resize
        return SeedMedia(
            seed, media, start=first_frame, count=count, fps=fps,
            resize=None if image_prompts else resize,
            aspect=seed.aspect if seed.aspect is not None else not no_aspect,
            align=1 if image_prompts else seed.align or 8, seed_processors=seed_processors,
            mask_processors=mask_processors, control_processors=control_processors,
            tensors=tensors, latents=latents)
    except BaseException:
        for media in opened:
            with contextlib.suppress(Exception):
                media.close()
        raise
