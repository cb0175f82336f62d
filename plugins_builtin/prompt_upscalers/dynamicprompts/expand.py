"""Template expansion with the dynamicprompts library, with the checks it lacks: a
wildcard that names nothing would otherwise repeat forever or stay in the prompt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dgenerate.plugin_api import DgenerateError

__all__ = ["MAX_PROMPTS", "expand", "wildcard_manager"]

#: the most prompts one text may expand into; more is almost always a mistake
MAX_PROMPTS = 1000

_WILDCARD = re.compile(r"__([^\s_{}|][^\s{}|]*?)__")


def wildcard_manager(folder: str | None) -> Any:
    """A dynamicprompts WildcardManager for ``folder`` (or none), the folder checked."""
    from dynamicprompts.wildcards import WildcardManager

    if folder is None:
        return WildcardManager(None)
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DgenerateError(
            f"dynamicprompts: wildcards={folder!r} is not a folder (it should hold the "
            "wildcard files, e.g. colors.txt for __colors__)")
    return WildcardManager(path)


def _check_wildcards(text: str, manager: Any, folder: str | None) -> None:
    for match in _WILDCARD.finditer(text):
        name = match.group(1)
        if not manager.get_values(name).items:
            where = ("no wildcards folder was given (wildcards=FOLDER)" if folder is None
                     else f"no wildcard file in {folder!r} provides it")
            raise DgenerateError(
                f"dynamicprompts: the prompt {text!r} uses the wildcard __{name}__ but "
                f"{where}")


def expand(text: str, manager: Any, folder: str | None, *, random: bool,
           seed: int | None, variations: int) -> list[str]:
    """Every expansion of ``text`` (combinatorial, in the library's order), or
    ``variations`` random picks from it (reproducible when ``seed`` is given)."""
    _check_wildcards(text, manager, folder)
    try:
        if random:
            from dynamicprompts.generators import RandomPromptGenerator

            generator = RandomPromptGenerator(wildcard_manager=manager, seed=seed)
            results = generator.generate(text, num_images=variations)
        else:
            from dynamicprompts.generators import CombinatorialPromptGenerator

            generator = CombinatorialPromptGenerator(wildcard_manager=manager)
            results = generator.generate(text, max_prompts=MAX_PROMPTS + 1)
    except DgenerateError:
        raise
    except Exception as error:  # the library's parse errors
        raise DgenerateError(
            f"dynamicprompts cannot expand the prompt {text!r}: {error}") from error
    results = [str(result) for result in results]
    if len(results) > MAX_PROMPTS:
        raise DgenerateError(
            f"dynamicprompts: the prompt {text!r} expands into more than {MAX_PROMPTS} "
            "prompts; use random=true;variations=N to pick some of them")
    return results or [text]
