"""Output file names: what the values of a job are, readable in the name.

``[prefix_][ANIM_][scheduler_]s_<seed>[_st_<strength>]_g_<guidance>_i_<steps>``
``[_frame_<F>]_step_<N>[_image_<i>|_animation_<i>].<ext>``

Options plugins declare with a ``token`` add ``_<token>_<value>`` at their
``position`` among the kernel's parts (``plugin_api.NAME_POSITIONS``: scheduler 0,
seed 100, strength 200, guidance 300, steps 400), e.g. ``_gr_`` (320) after the
guidance and ``_cs_`` (500) after the steps; a token of ``""`` is the value alone.
Numbers are written with ``-`` for ``.`` (``5.0`` -> ``5-0``). ``ANIM_`` marks an
animation file, ``_frame_<F>`` (from 1) a frame of one. An existing file is not
overwritten: ``_duplicate_<n>`` is added unless overwriting was asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from dgenerate.plugin_api.files import duplicate_names
from dgenerate.plugin_api.options import NAME_POSITIONS, OptionSpec

from ..uri import parse_uri
from .grid import JobTemplate

__all__ = ["base_name", "candidate_paths", "stem", "unique_path"]


def _number(value: float | int) -> str:
    return str(value).replace(".", "-")


def _scheduler_token(uri: str) -> str:
    return parse_uri(uri).name.replace(".", "-")


def stem(job: JobTemplate, *, prefix: str | None = None, frame: int | None = None,
         animation: bool = False, tokens: Sequence[OptionSpec] = ()) -> str:
    """The name of a job's output (a still, a frame, or an animation) without batch index or
    extension; ``tokens`` are the declared options (those with a token are named)."""
    parts = [prefix] if prefix else []
    if animation:
        parts.append("ANIM")
    parts.append(base_name(job, tokens))
    if frame is not None:
        parts.append(f"frame_{frame}")
    parts.append(f"step_{job.number}")
    return "_".join(parts)


def _token(token: str, value: Any) -> str:
    if token:
        return f"{token}_{_number(value)}"
    return _scheduler_token(value) if isinstance(value, str) else _number(value)


def base_name(job: JobTemplate, tokens: Sequence[OptionSpec] = ()) -> str:
    """The values of a job, as a name part."""
    parts: list[tuple[int, str]] = []
    if job.scheduler:
        parts.append((NAME_POSITIONS["scheduler"], _scheduler_token(job.scheduler)))
    parts.append((NAME_POSITIONS["seed"], f"s_{job.seed}"))
    if job.strength is not None:
        parts.append((NAME_POSITIONS["strength"], f"st_{_number(job.strength)}"))
    parts.append((NAME_POSITIONS["guidance"], f"g_{_number(job.guidance_scale)}"))
    parts.append((NAME_POSITIONS["steps"], f"i_{job.inference_steps}"))
    for spec in tokens:
        value = job.values.get(spec.name)
        if spec.token is not None and value is not None and value is not False:
            parts.append((spec.position, _token(spec.token, value)))
    # sorted() is stable: equal positions keep the kernel's part first, then declaration order
    return "_".join(part for _, part in sorted(parts, key=lambda part: part[0]))


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
