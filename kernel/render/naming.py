"""Output file names: what the values of a job are, readable in the name.

``[prefix_][scheduler_]s_<seed>[_st_<strength>]_g_<guidance>[_gr_<rescale>]_i_<steps>``
``[_cs_<clip skip>]_step_<N>[_image_<i>].<ext>`` - numbers with ``.`` written as
``-`` (``5.0`` -> ``5-0``). An existing file is not overwritten: ``_duplicate_<n>``
is added unless overwriting was asked for.
"""

from __future__ import annotations

import os

from ..uri import parse_uri
from .grid import JobTemplate

__all__ = ["base_name", "unique_path"]


def _number(value: float | int) -> str:
    return str(value).replace(".", "-")


def _scheduler_token(uri: str) -> str:
    return parse_uri(uri).name.replace(".", "-")


def base_name(job: JobTemplate, *, prefix: str | None = None) -> str:
    """The name of a job's output without batch index or extension."""
    parts = []
    if prefix:
        parts.append(prefix)
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
    parts.append(f"step_{job.number}")
    return "_".join(parts)


def unique_path(directory: str, stem: str, extension: str, *, overwrite: bool,
                taken: set[str] | None = None) -> str:
    """``directory/stem.extension``, or with ``_duplicate_<n>`` when that exists (or is in
    ``taken``, names already planned in this run) and ``overwrite`` is false."""
    path = os.path.join(directory, f"{stem}.{extension}")
    if overwrite:
        return path
    taken = taken if taken is not None else set()
    number = 1
    while os.path.exists(path) or path in taken:
        path = os.path.join(directory, f"{stem}_duplicate_{number}.{extension}")
        number += 1
    return path
