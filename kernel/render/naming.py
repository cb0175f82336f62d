"""Output file names: what the values of a job are, readable in the name.

``[prefix_][ANIM_][scheduler_]s_<seed>[_st_<strength>]_g_<guidance>[_gr_<rescale>]``
``_i_<steps>[_cs_<clip skip>][_frame_<F>]_step_<N>[_image_<i>|_animation_<i>].<ext>``

Numbers are written with ``-`` for ``.`` (``5.0`` -> ``5-0``). ``ANIM_`` marks an
animation file, ``_frame_<F>`` (from 1) a frame of one. An existing file is not
overwritten: ``_duplicate_<n>`` is added unless overwriting was asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from dgenerate.plugin_api.files import duplicate_names

from ..uri import parse_uri
from .grid import JobTemplate

__all__ = ["base_name", "candidate_paths", "stem", "unique_path"]


def _number(value: float | int) -> str:
    return str(value).replace(".", "-")


def _scheduler_token(uri: str) -> str:
    return parse_uri(uri).name.replace(".", "-")


def stem(job: JobTemplate, *, prefix: str | None = None, frame: int | None = None,
         animation: bool = False) -> str:
    """The name of a job's output (a still, a frame, or an animation) without batch index or
    extension."""
    parts = [prefix] if prefix else []
    if animation:
        parts.append("ANIM")
    parts.append(base_name(job))
    if frame is not None:
        parts.append(f"frame_{frame}")
    parts.append(f"step_{job.number}")
    return "_".join(parts)


def base_name(job: JobTemplate) -> str:
    """The values of a job, as a name part."""
    parts = []
    if job.scheduler:
        parts.append(_scheduler_token(job.scheduler))
    parts.append(f"s_{job.seed}")
    if job.strength is not None:
        parts.append(f"st_{_number(job.strength)}")
    parts.append(f"g_{_number(job.guidance_scale)}")
    if job.guidance_rescale is not None:
        parts.append(f"gr_{_number(job.guidance_rescale)}")
    parts.append(f"i_{job.inference_steps}")
    if job.clip_skip is not None:
        parts.append(f"cs_{job.clip_skip}")
    return "_".join(parts)


def candidate_paths(directory: str, stem: str, extension: str, *,
                    taken: set[str] | None = None) -> Iterator[str]:
    """``directory/stem.extension``, then its ``_duplicate_<n>`` names, skipping the names
    already planned in this run (``taken``)."""
    for path in duplicate_names(os.path.join(directory, f"{stem}.{extension}")):
        if taken is None or str(path) not in taken:
            yield str(path)


def unique_path(directory: str, stem: str, extension: str, *, overwrite: bool,
                taken: set[str] | None = None) -> str:
    """``directory/stem.extension``, or with ``_duplicate_<n>`` when that exists (or is in
    ``taken``, names already planned in this run) and ``overwrite`` is false.

    Only a plan: another process may take the name before a file is written, so writers
    claim the name when the file is complete (see ``atomic_new_file``)."""
    if overwrite:
        return os.path.join(directory, f"{stem}.{extension}")
    return next(path for path in candidate_paths(directory, stem, extension, taken=taken)
                if not os.path.exists(path))
