"""Registration module of the ``ray`` job executor (light: ray is imported when it runs)."""

from dgenerate.plugin_api import JobExecutorSpec, hookimpl


@hookimpl
def dgenerate_job_executors():
    yield JobExecutorSpec(
        name="ray",
        summary="Run the jobs on a Ray cluster (a local one without address=): one worker "
                "per slot keeps the model loaded; results are written in job order.",
        target=".executor:RayExecutor",
        requires=("ray",),
    )
