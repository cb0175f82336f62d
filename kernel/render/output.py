"""Writing a job's results: still images, animation frames and animation files.

Names come from :mod:`.naming`; every file goes through a temporary file so
that nothing half-written is ever left behind, animations included (their
writer renames the file when it is complete, and removes it on failure).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dgenerate.plugin_api.errors import DgenerateError
from dgenerate.plugin_api.interfaces.model_type import RenderOutput
from dgenerate.plugin_api.render import Job

from ..media.saving import write_image, write_text
from . import configs
from .collage import make_grid
from .grid import JobTemplate
from .naming import candidate_paths, stem, unique_path
from .plan import RenderPlan

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["AnimationSet", "OutputWriter", "WrittenImage", "check_output_folder"]


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def check_output_folder(path: str, *, clean: bool = True) -> None:
    """Make sure ``--output-path`` can take files before anything is rendered: it is a
    folder, or can be made one, that can be written. With ``clean`` the temporary files of
    killed earlier runs in it are removed. It is created when the first file is written."""
    from dgenerate.plugin_api.files import remove_stale_temporaries

    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        where = "" if existing == os.path.abspath(path) else f": {existing!r}"
        raise DgenerateError(f"--output-path {path!r}{where} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DgenerateError(f"--output-path {path!r}: the folder {existing!r} is not writable")
    if clean and existing == os.path.abspath(path):
        remove_stale_temporaries(path)


def _make_folder(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise DgenerateError(f"--output-path {path!r}: cannot create the folder: "
                             f"{error.strerror or error}") from None


@dataclasses.dataclass(frozen=True)
class WrittenImage:
    path: str
    job_number: int
    seed: int
    config: str | None = None
    frame: int | None = None


class AnimationSet:
    """The animation files of one job: one per batch item, or one of grid frames."""

    def __init__(self, writers: list[Any], paths: list[str]) -> None:
        self._writers = writers
        self.paths = paths

    def write(self, images: list[Image]) -> None:
        for writer, image in zip(self._writers, images, strict=True):
            writer.write(image)

    def close(self) -> list[str]:
        """Finish every file; the paths written (a name may have moved on to a
        ``_duplicate_N`` if another process took it meanwhile)."""
        for writer in self._writers:
            writer.close()
        self.paths = [writer.path for writer in self._writers]
        return self.paths

    def abort(self) -> None:
        for writer in self._writers:
            writer.abort()


class OutputWriter:
    """Names and writes the outputs of the jobs of one invocation."""

    def __init__(self, plan: RenderPlan, model_name: str) -> None:
        self.plan = plan
        self.output = plan.output
        self.model_name = model_name
        self.taken: set[str] = set()
        # --skip-existing re-renders a job only when some of its files are missing; the ones
        # there (from the interrupted run, the same seeds) are replaced, not duplicated
        self.replaces = self.output.overwrite or self.output.skip_existing

    def path(self, name: str, extension: str) -> str:
        """A free path for ``name`` (``_duplicate_N`` unless overwriting), reserved."""
        found = unique_path(self.output.path, name, extension,
                            overwrite=self.replaces, taken=self.taken)
        self.taken.add(found)
        return found

    def _claims(self, name: str, extension: str, reserved: str) -> Iterator[str] | None:
        """The names a file planned as ``reserved`` may be published under: None when
        replacing, else ``name`` and its ``_duplicate_N`` names not planned for other files,
        claimed when the file is complete so that a process writing the same names into
        the folder cannot replace it (nor it that process's)."""
        if self.replaces:
            return None
        return candidate_paths(self.output.path, name, extension, taken=self.taken - {reserved})

    def _write(self, image: Image, name: str, metadata: dict[str, str] | None) -> str:
        """Write one image; return the path it was written to."""
        extension = self.output.image_format
        path = self.path(name, extension)
        written = write_image(image, path, extension, metadata=metadata,
                              names=self._claims(name, extension, path))
        self.taken.add(written)
        return written

    def names(self, template: JobTemplate, count: int, *, frame: int | None = None,
              animation: bool = False) -> list[str]:
        """Output names of a job with ``count`` batch images (after a grid is made)."""
        name = stem(template, prefix=self.output.prefix, frame=frame, animation=animation,
                    tokens=[option.spec for option in self.plan.declared])
        if count == 1:
            return [name]
        suffix = "animation" if animation else "image"
        return [f"{name}_{suffix}_{index}" for index in range(1, count + 1)]

    def existing_images(self, template: JobTemplate, count: int, *, frame: int | None = None,
                        animation: bool = False) -> list[str] | None:
        """With ``--skip-existing``, the files a job (or one frame of it) writes when they all
        exist already, under their plain names; otherwise None."""
        if not self.output.skip_existing:
            return None
        extension = self.output.animation_format if animation else self.output.image_format
        paths = [os.path.join(self.output.path, f"{name}.{extension}")
                 for name in self.names(template, count, frame=frame, animation=animation)]
        if not all(os.path.isfile(path) for path in paths):
            return None
        self.taken.update(paths)
        return paths

    def gridded(self, images: list[Image]) -> list[Image]:
        """The images as written: one grid when --batch-grid-size is given."""
        if self.output.grid is not None and len(images) > 1:
            return [make_grid(images, self.output.grid.width, self.output.grid.height)]
        return images

    def write_images(self, template: JobTemplate, job: Job, output: RenderOutput, *,
                     frame: int | None = None, config: str | None = None) -> list[WrittenImage]:
        """Write the images of a job (or of one frame of it) with their configs/metadata."""
        _make_folder(self.output.path)
        images = self.gridded(list(output.images))
        if config is None:
            config = configs.job_config(self.plan, template, job)
        written = []
        for index, (name, image) in enumerate(
                zip(self.names(template, len(images), frame=frame), images, strict=True)):
            seed = job.seeds[index] if len(images) > 1 else template.seed
            metadata = None
            if self.output.metadata:
                metadata = {"DgenerateConfig": config}
            elif self.output.auto1111_metadata:
                metadata = {"parameters": configs.auto1111_parameters(
                    template, image.size, seed, output.info, self.model_name)}
            path = self._write(image, name, metadata)
            config_path = None
            if self.output.configs:
                config_path = os.path.splitext(path)[0] + ".dgen"
                write_text(config, config_path)
            written.append(WrittenImage(path, template.number, seed, config_path, frame))
        return written

    def open_animations(self, template: JobTemplate, count: int, fps: float) -> AnimationSet:
        """Start the animation files of a job whose frames hold ``count`` images."""
        from dgenerate.plugin_api.media.writing import AnimationWriter

        _make_folder(self.output.path)
        extension = self.output.animation_format
        names = self.names(template, 1 if self.output.grid is not None else count, animation=True)
        paths = [self.path(name, extension) for name in names]
        writers = [AnimationWriter(path, self.output.animation_format, fps,
                                   names=self._claims(name, extension, path))
                   for name, path in zip(names, paths, strict=True)]
        return AnimationSet(writers, paths)
