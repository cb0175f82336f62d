"""The FreeU pipeline extension: diffusers' ``enable_freeu`` for one job, undone after it."""

from __future__ import annotations

from typing import Any

from dgenerate.plugin_api import DgenerateError, Job, PipelineExtension

__all__ = ["FreeU"]


class FreeU(PipelineExtension):
    """Scale the UNet's skip connections (s1, s2) and backbone features (b1, b2) while the
    job runs (https://github.com/ChenyangSi/FreeU); the UNet is restored afterwards, so a
    cached pipeline renders without FreeU in the next job that does not ask for it."""

    def apply(self, pipeline: Any, arguments: dict[str, Any], job: Job) -> dict[str, Any]:
        params = job.values["freeu_params"]
        if not hasattr(pipeline, "enable_freeu"):
            raise DgenerateError(f"--freeu-params needs a UNet pipeline; "
                                 f"{type(pipeline).__name__} cannot use FreeU")
        pipeline.enable_freeu(s1=params.s1, s2=params.s2, b1=params.b1, b2=params.b2)
        return arguments

    def remove(self, pipeline: Any) -> None:
        if hasattr(pipeline, "disable_freeu"):
            pipeline.disable_freeu()
