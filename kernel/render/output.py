"""Writing a job's results: still images, animation frames and animation files.

Names come from :mod:`.naming`; every file goes through a temporary file so
that nothing half-written is ever left behind, animations included (their
writer renames the file when it is complete, and removes it on failure).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from dgenerate.plugin_api.interfaces.model_type import RenderOutput
from dgenerate.plugin_api.render import Job

from . import configs
from .collage import make_grid
from .grid import JobTemplate
from .naming import stem, unique_path
from .plan import RenderPlan
from .writer import write_image, write_text

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["AnimationSet", "OutputWriter", "WrittenImage"]


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
        for writer in self._writers:
            writer.close()
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

    def path(self, name: str, extension: str) -> str:
        """A free path for ``name`` (``_duplicate_N`` unless overwriting), reserved."""
        found = unique_path(self.output.path, name, extension,
                            overwrite=self.output.overwrite, taken=self.taken)
        self.taken.add(found)
        return found

    def names(self, template: JobTemplate, count: int, *, frame: int | None = None,
              animation: bool = False) -> list[str]:
        """Output names of a job with ``count`` batch images (after a grid is made)."""
        name = stem(template, prefix=self.output.prefix, frame=frame, animation=animation)
        if count == 1:
            return [name]
        suffix = "animation" if animation else "image"
        return [f"{name}_{suffix}_{index}" for index in range(1, count + 1)]

    def gridded(self, images: list[Image]) -> list[Image]:
        """The images as written: one grid when --batch-grid-size is given."""
        if self.output.grid is not None and len(images) > 1:
            return [make_grid(images, self.output.grid.width, self.output.grid.height)]
        return images

    def write_images(self, template: JobTemplate, job: Job, output: RenderOutput, *,
                     frame: int | None = None, config: str | None = None) -> list[WrittenImage]:
        """Write the images of a job (or of one frame of it) with their configs/metadata."""
        os.makedirs(self.output.path, exist_ok=True)
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
                    template, job, seed, output.info, self.model_name)}
            path = self.path(name, self.output.image_format)
            write_image(image, path, self.output.image_format, metadata=metadata)
            config_path = None
            if self.output.configs:
                config_path = os.path.splitext(path)[0] + ".dgen"
                write_text(config, config_path)
            written.append(WrittenImage(path, template.number, seed, config_path, frame))
        return written

    def open_animations(self, template: JobTemplate, count: int, fps: float) -> AnimationSet:
        """Start the animation files of a job whose frames hold ``count`` images."""
        from ..media.writing import AnimationWriter

        os.makedirs(self.output.path, exist_ok=True)
        extension = self.output.animation_format
        names = self.names(template, 1 if self.output.grid is not None else count,
                           animation=True)
        paths = [self.path(name, extension) for name in names]
        writers = [AnimationWriter(path, self.output.animation_format, fps) for path in paths]
        return AnimationSet(writers, paths)
