"""The ``dynamicprompts`` prompt upscaler class (light to import: the dynamicprompts
library loads when a prompt is expanded)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from dgenerate.plugin_api import Arg, PluginArgumentError
from dgenerate.plugin_api.prompts import PartwiseUpscaler

__all__ = ["DynamicPromptsUpscaler"]


class DynamicPromptsUpscaler(PartwiseUpscaler):
    """Expand a prompt written in the dynamicprompts template syntax into several prompts.

    "a {red|blue} {ball|cube}" becomes four prompts, rendered in this order: "a red
    ball", "a red cube", "a blue ball", "a blue cube" (the last group changes fastest).
    "{2$$a|b|c}" picks two of the choices, "__colors__" takes its choices from the lines
    of colors.txt in the wildcards folder (subfolders: "__animals/cats__").
    See https://github.com/adieyal/dynamicprompts for the whole syntax.

    part chooses what is expanded: both (default), positive or negative. When both
    parts expand, every positive is rendered with every negative.

    random=true draws "variations" prompts (1 by default) at random instead of listing
    every combination; give "seed" to draw the same ones every time. "variations"
    without random=true is refused.

    One prompt may expand into 1000 prompts at most.
    """

    pairs = False

    def __init__(
        self,
        *,
        part: Annotated[Literal["both", "positive", "negative"],
                        Arg(help="which parts of the prompt to expand")] = "both",
        random: Annotated[bool, Arg(help="draw random variations instead of every "
                                         "combination")] = False,
        seed: Annotated[int | None, Arg(help="seed of the random draws (random=true); "
                                             "none: different each run")] = None,
        variations: Annotated[int | None, Arg(help="how many prompts random=true draws "
                                                   "(default 1); only with random")] = None,
        wildcards: Annotated[str | None, Arg(help="folder of wildcard files "
                                                  "(NAME.txt for __NAME__)")] = None,
        context: Annotated[Any, Arg(hidden=True)] = None,
    ) -> None:
        super().__init__(part, owner="dynamicprompts")
        if variations is not None and not random:
            raise PluginArgumentError(
                f"dynamicprompts: variations={variations} needs random=true (without it "
                "every combination is rendered)")
        if variations is not None and variations < 1:
            raise PluginArgumentError(
                f"dynamicprompts: variations={variations} must be 1 or more")
        self.random = random
        self.seed = seed
        self.variations = 1 if variations is None else variations
        self.wildcards = wildcards
        from .expand import wildcard_manager

        self._manager = wildcard_manager(wildcards)

    def expand_texts(self, texts: list[str]) -> list[list[str]]:
        from .expand import expand

        return [expand(text, self._manager, self.wildcards, random=self.random,
                       seed=self.seed, variations=self.variations) for text in texts]
