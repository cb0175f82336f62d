"""The ``\\image_process`` directive: the sub-command inside config scripts."""

from __future__ import annotations

from collections.abc import Sequence

from dgenerate.plugin_api import DirectiveContext

from .command import run_image_process


def image_process(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\image_process INPUT... [-p PROCESSOR...] [-o OUTPUT...] [options]

    The image-process sub-command (see dgenerate --sub-command-help image-process)
    inside a config script. It sets last_images and last_animations to what it
    wrote; \\image_process --help prints the options without ending the script.
    Options injected from the command line are not passed to it (use the
    injected_* variables).
    """
    result = run_image_process(context, args, prog="\\image_process")
    if result is not None:
        context.variables["last_images"] = list(result.images)
        context.variables["last_animations"] = list(result.animations)
