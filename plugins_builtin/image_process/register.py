"""Registration module of the ``image-process`` plugin (light: nothing imported)."""

from dgenerate.plugin_api import DirectiveSpec, SubCommandSpec, hookimpl


@hookimpl
def dgenerate_sub_commands():
    yield SubCommandSpec(
        name="image-process",
        summary="Run image processors on image, animation and video files.",
        target=".command:ImageProcess",
    )


@hookimpl
def dgenerate_directives():
    yield DirectiveSpec(
        name="image_process",
        summary="Run image processors on files, like --sub-command image-process.",
        target=".directive:image_process",
    )
