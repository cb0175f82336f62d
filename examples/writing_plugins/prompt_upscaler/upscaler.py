"""The add-style prompt upscaler."""

from collections.abc import Sequence

from dgenerate.plugin_api import Prompt, PromptUpscaler


class AddStyle(PromptUpscaler):
    """Append style words to the positive part of every prompt.

    With several "styles" (comma separated: styles="watercolor,oil painting"),
    each prompt becomes one prompt per style, so every style is rendered.
    """

    def __init__(self, styles: tuple[str, ...] = ("highly detailed",)) -> None:
        self.styles = list(styles)

    def upscale(self, prompts: Sequence[Prompt]) -> list[Prompt]:
        return [Prompt(f"{prompt.positive}, {style}", prompt.negative)
                for prompt in prompts for style in self.styles]
