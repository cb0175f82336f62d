"""``image-process``: image processors applied to files, stills and animations alike."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

from dgenerate.plugin_api import Category, DgenerateError, PluginContext, SubCommand
from dgenerate.plugin_api.files import duplicate_names, remove_stale_temporaries
from dgenerate.plugin_api.media import ANIMATION_FORMATS, IMAGE_FORMATS
from dgenerate.plugin_api.values import MAX_IMAGE_SIDE, ValueSyntaxError, parse_int, parse_size

__all__ = ["ImageProcess", "ProcessResult", "run_image_process"]


@dataclasses.dataclass
class ProcessResult:
    """What one run wrote: image files (frames included) and animation files."""

    images: list[str] = dataclasses.field(default_factory=list)
    animations: list[str] = dataclasses.field(default_factory=list)


def build_parser(prog: str = "image-process") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run dgenerate's image processors on files of your choosing: still images, "
                    "animations and videos (frame by frame). Without -o, results are written "
                    "next to each input as NAME_processed_N.")
    parser.add_argument("input", nargs="+", help="image, animation or video files, or URLs")
    parser.add_argument("-p", "--processors", nargs="+", metavar="PROCESSORS", default=[],
                        help="processor URIs, applied in order (see --image-processor-help)")
    parser.add_argument("-o", "--output", nargs="+", metavar="OUTPUT", default=[],
                        help="one output file per input, or a folder ending with / for all "
                             "(created when missing); the extension chooses the format")
    parser.add_argument("-ff", "--frame-format", default="png", metavar="FRAME_FORMAT",
                        help=f"format of frame images of animations: {', '.join(IMAGE_FORMATS)}"
                             " (default: png)")
    parser.add_argument("-ox", "--output-overwrite", action="store_true",
                        help="overwrite existing files (and, without -o, the input itself) "
                             "instead of adding _duplicate_N")
    parser.add_argument("-r", "--resize", metavar="RESIZE",
                        help="resize to WIDTHxHEIGHT, or to a WIDTH keeping the aspect ratio")
    parser.add_argument("-na", "--no-aspect", action="store_true",
                        help="--resize to exactly the size given")
    parser.add_argument("-al", "--align", metavar="ALIGN", default="1",
                        help="round sizes down to a multiple of this (default: 1)")
    parser.add_argument("-d", "--device", metavar="DEVICE", default="cpu",
                        help="device for processors that use one: cpu, cuda, cuda:1 ...")
    parser.add_argument("-fs", "--frame-start", metavar="FRAME_NUMBER",
                        help="first frame of animated inputs (from 0)")
    parser.add_argument("-fe", "--frame-end", metavar="FRAME_NUMBER",
                        help="last frame of animated inputs (included)")
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument("-nf", "--no-frames", action="store_true",
                        help="for animations, write only the animation file")
    frames.add_argument("-naf", "--no-animation-file", action="store_true",
                        help="for animations, write only the frame images")
    return parser


@dataclasses.dataclass(frozen=True)
class _Settings:
    resize: tuple[int, int | None] | None
    aspect: bool
    align: int
    frame_format: str
    start: int | None
    end: int | None


def _settings(options: argparse.Namespace) -> _Settings:
    try:
        align = parse_int(options.align, what="--align", minimum=1)
        if align > MAX_IMAGE_SIDE:
            raise ValueSyntaxError(f"--align {options.align!r} is above the limit of "
                                   f"{MAX_IMAGE_SIDE} pixels")
        start = None if options.frame_start is None else parse_int(
            options.frame_start, what="--frame-start", minimum=0)
        end = None if options.frame_end is None else parse_int(
            options.frame_end, what="--frame-end", minimum=0)
        resize = None
        if options.resize is not None:
            size = parse_size(options.resize, what="--resize", maximum=MAX_IMAGE_SIDE)
            single = "x" not in options.resize.lower()
            resize = (size.width, None if single else size.height)
    except ValueSyntaxError as error:
        raise DgenerateError(f"image-process: {error}") from None
    frame_format = options.frame_format.lower().lstrip(".")
    if frame_format not in IMAGE_FORMATS:
        raise DgenerateError(f"image-process: --frame-format {options.frame_format!r} is not one "
                             f"of {', '.join(IMAGE_FORMATS)}")
    if start is not None and end is not None and start > end:
        raise DgenerateError(f"image-process: --frame-start {start} is after --frame-end {end}")
    return _Settings(resize, not options.no_aspect, align, frame_format, start, end)


def _target_size(size: tuple[int, int], settings: _Settings) -> tuple[int, int]:
    width, height = size
    if settings.resize is not None:
        new_width, new_height = settings.resize
        if new_height is None or settings.aspect:
            new_height = max(1, math.floor(height * new_width / width + 0.5))
        width, height = new_width, new_height
    align = settings.align
    return max(align, width // align * align), max(align, height // align * align)


def _is_folder(output: str) -> bool:
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def _free(path: str, overwrite: bool, taken: set[str]) -> str:
    """The name a file is planned under: ``path``, or its first ``_duplicate_N`` name that
    neither exists nor is planned in this run. Only a plan: writing claims the name
    atomically and moves on to the next free one if another process took it meanwhile."""
    if overwrite:
        return path
    return next(str(name) for name in duplicate_names(path)
                if not os.path.exists(name) and str(name) not in taken)


class _Run:
    """One image-process run: the inputs, their outputs and the processors."""

    def __init__(self, context: PluginContext, options: argparse.Namespace) -> None:
        self.context = context
        self.options = options
        self.settings = _settings(options)
        self.result = ProcessResult()
        self.taken: set[str] = set()
        inputs, outputs = options.input, options.output
        if outputs and len(outputs) != len(inputs) and not (
                len(outputs) == 1 and _is_folder(outputs[0])):
            raise DgenerateError(
                f"image-process: {len(inputs)} inputs but {len(outputs)} outputs; give one "
                "output per input, or one folder (ending with /) for all")
        self.processors = [context.create(Category.IMAGE_PROCESSOR, uri,
                                          device=options.device)
                           for uri in options.processors]

    def _process(self, image: Any) -> Any:
        from PIL import Image

        for processor in self.processors:
            if getattr(processor, "pre_resize", False):
                image = processor(image)
        size = _target_size(image.size, self.settings)
        if size != image.size and max(size) > MAX_IMAGE_SIDE:
            raise DgenerateError(
                f"image-process: --resize {self.options.resize} makes a {size[0]}x{size[1]} "
                f"image of the {image.size[0]}x{image.size[1]} input, above the limit of "
                f"{MAX_IMAGE_SIDE} pixels per side; give WIDTHxHEIGHT with --no-aspect")
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        for processor in self.processors:
            if not getattr(processor, "pre_resize", False):
                image = processor(image)
        return image

    def _output(self, index: int, source: str) -> str:
        outputs = self.options.output
        stem, extension = os.path.splitext(os.path.basename(source.split("?")[0]))
        default_name = f"{stem}_processed_{index + 1}{extension or '.png'}"
        if not outputs:
            if source.lower().startswith(("http://", "https://")):
                raise DgenerateError(f"image-process: the input {source!r} is a URL; give an "
                                     "output file or folder with -o")
            if self.options.output_overwrite:
                return source
            return os.path.join(os.path.dirname(source), default_name)
        output = outputs[index] if len(outputs) > 1 else outputs[0]
        if _is_folder(output):
            return os.path.join(output, default_name)
        return output

    def run(self) -> ProcessResult:
        for index, source in enumerate(self.options.input):
            output = _free(self._output(index, source), self.options.output_overwrite,
                           self.taken)
            self.taken.add(output)
            folder = os.path.dirname(output)
            if folder:
                try:
                    os.makedirs(folder, exist_ok=True)
                except OSError as error:
                    raise DgenerateError(f"image-process: cannot create the folder {folder!r}: "
                                         f"{error.strerror or error}") from None
            remove_stale_temporaries(folder or ".")
            with self.context.open_media(source) as media:
                if media.animated:
                    self._animation(media, output)
                else:
                    self._still(media, output)
        return self.result

    def _still(self, media: Any, output: str) -> None:
        extension = os.path.splitext(output)[1].lstrip(".").lower()
        if extension not in IMAGE_FORMATS:
            raise DgenerateError(f"image-process: the output {output!r} has no image format "
                                 f"extension ({', '.join(IMAGE_FORMATS)})")
        image = self._process(next(media.frames(0, 0)))
        output = self.context.save_image(image, output,
                                         overwrite=self.options.output_overwrite)
        self.result.images.append(output)
        print(f"wrote {output}")

    def _animation(self, media: Any, output: str) -> None:
        settings, options = self.settings, self.options
        stem, extension = os.path.splitext(output)
        animation_format = extension.lstrip(".").lower()
        if animation_format not in ANIMATION_FORMATS and not options.no_animation_file:
            raise DgenerateError(
                f"image-process: the output {output!r} of the animated input {media.path!r} "
                f"must end with an animation format ({', '.join(ANIMATION_FORMATS)})")
        writer = None if options.no_animation_file else self.context.animation_writer(
            output, animation_format, media.fps, overwrite=options.output_overwrite)
        end = settings.end if settings.end is not None else media.frame_count - 1
        start = settings.start or 0
        if start >= media.frame_count:
            raise DgenerateError(f"image-process: --frame-start {start} is past the last frame "
                                 f"of {media.path!r} ({media.frame_count} frames)")
        try:
            for number, frame in enumerate(media.frames(start, end), start=1):
                image = self._process(frame)
                if not options.no_frames:
                    path = _free(f"{stem}_frame_{number}.{settings.frame_format}",
                                 options.output_overwrite, self.taken)
                    path = self.context.save_image(image, path,
                                                   overwrite=options.output_overwrite)
                    self.taken.add(path)
                    self.result.images.append(path)
                if writer is not None:
                    writer.write(image)
            if writer is not None:
                writer.close()
                self.result.animations.append(writer.path)
                print(f"wrote {writer.path}")
        except BaseException:
            if writer is not None:
                writer.abort()
            raise


def run_image_process(context: PluginContext, args: Sequence[str], *,
                      prog: str = "image-process") -> ProcessResult | None:
    """Parse ``args`` and run; ``None`` when only ``--help`` was printed."""
    parser = build_parser(prog)
    if "-h" in args or "--help" in args:
        print(parser.format_help())
        return None
    try:
        options = parser.parse_args(list(args))
    except SystemExit:  # argparse printed the usage and the problem
        raise DgenerateError(f"{prog}: invalid arguments (see {prog} --help)") from None
    return _Run(context, options).run()


class ImageProcess(SubCommand):
    """Run image processors on any image, animation or video file.

    Each input is processed by the --processors chain (after an optional
    --resize / --align) and written next to it as NAME_processed_N, or where -o
    says. Animated inputs give an animation file plus its frames.
    """

    def create_parser(self) -> argparse.ArgumentParser:
        return build_parser(self.name)

    def run(self, options: argparse.Namespace) -> int:
        _Run(self.context, options).run()
        return 0
