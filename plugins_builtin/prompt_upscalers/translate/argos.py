"""The ``argos`` provider: argostranslate packages (heavy: argostranslate, ctranslate2).

argostranslate reads its settings (package folder ``ARGOS_PACKAGES_DIR``, index URL
``ARGOS_PACKAGE_INDEX``, ``XDG_DATA_HOME`` ...) from the environment when first
imported. Its sentence splitter (MiniSBD) would download a model the first time, from
outside argos' package index and regardless of offline mode; prompts are short, so
each translation is given :func:`prompt_sentencizer` instead, which splits at sentence
punctuation.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from dgenerate.plugin_api import DgenerateError

__all__ = ["ArgosTranslator", "ensure_installed", "prompt_sentencizer", "split_prompt_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])\s*")
_LOCK = threading.Lock()


def split_prompt_sentences(text: str) -> list[str]:
    """``text`` split after . ! ? followed by blanks, and after the CJK full stops."""
    return [piece for piece in _SENTENCE_END.split(text) if piece.strip()] or [text]


def prompt_sentencizer() -> Any:
    """An argos sentence boundary model that needs no model file: :func:`split_prompt_sentences`."""
    from argostranslate.sbd import ISentenceBoundaryDetectionModel

    class PromptSentences(ISentenceBoundaryDetectionModel):
        def split_sentences(self, text: str) -> list[str]:
            return split_prompt_sentences(text)

        def __str__(self) -> str:
            return "dgenerate prompt sentences"

    return PromptSentences()


def _installed_pairs() -> set[tuple[str, str]]:
    from argostranslate import package

    return {(item.from_code, item.to_code) for item in package.get_installed_packages()
            if item.type == "translate"}


def _reachable(pairs: set[tuple[str, str]], source: str, target: str) -> bool:
    """Whether argos can translate ``source`` into ``target`` with ``pairs``, directly or
    through other languages (argos chains packages)."""
    seen, frontier = {source}, [source]
    while frontier:
        language = frontier.pop()
        for start, end in pairs:
            if start == language and end not in seen:
                if end == target:
                    return True
                seen.add(end)
                frontier.append(end)
    return False


def _available() -> list[Any]:
    from argostranslate import package, settings

    package.update_package_index()  # logs and returns on network errors
    if not settings.local_package_index.exists():
        raise DgenerateError(
            f"translate: cannot download argos' package index {settings.remote_package_index!r}")
    try:
        return package.get_available_packages()
    except (OSError, ValueError) as error:
        raise DgenerateError(f"translate: argos' package index cannot be read: {error}") from None


def ensure_installed(source: str, target: str, *, offline: bool) -> None:
    """Install the argos packages translating ``source`` into ``target`` when missing: the
    direct package, else a pair through English."""
    from argostranslate import package

    if _reachable(_installed_pairs(), source, target):
        return
    pair = f"{source} -> {target}"
    if offline:
        raise DgenerateError(
            f"translate: no argostranslate package for {pair} is installed and offline mode "
            "forbids downloading one")
    available = {(item.from_code, item.to_code): item for item in _available()
                 if item.type == "translate"}
    if (source, target) in available:
        route = [(source, target)]
    elif (source, "en") in available and ("en", target) in available:
        route = [(source, "en"), ("en", target)]
    else:
        raise DgenerateError(
            f"translate: argos' package index has no package for {pair}, nor a pair "
            "through English; try provider=mariana")
    installed = _installed_pairs()
    for step in route:
        if step in installed:
            continue
        try:
            path = available[step].download()
            package.install_from_path(path)
        except Exception as error:  # argos raises bare Exception for failed downloads
            raise DgenerateError(
                f"translate: cannot install the argostranslate package {step[0]} -> "
                f"{step[1]}: {error}") from None


def _replace_sentencizers(translation: Any, sentencizer: Any) -> None:
    """Give every package translation inside ``translation`` (cached, chained) our
    sentence splitter."""
    if hasattr(translation, "sentencizer"):
        translation.sentencizer = sentencizer
    for inner in ("underlying", "t1", "t2"):
        if getattr(translation, inner, None) is not None:
            _replace_sentencizers(getattr(translation, inner), sentencizer)


class ArgosTranslator:
    """Translates lists of texts with argostranslate, one text after the other (argos
    batches the sentences of one text itself)."""

    def __init__(self, source: str, target: str, *, offline: bool) -> None:
        with _LOCK:
            ensure_installed(source, target, offline=offline)
            from argostranslate import translate

            languages = {language.code: language for language in
                         translate.get_installed_languages()}
            translation = (languages[source].get_translation(languages[target])
                           if source in languages and target in languages else None)
            if translation is None:
                raise DgenerateError(
                    f"translate: argostranslate cannot translate {source} -> {target} with "
                    "the installed packages")
            _replace_sentencizers(translation, prompt_sentencizer())
        self.translation = translation

    def __call__(self, texts: list[str]) -> list[str]:
        return [self.translation.translate(text).strip() for text in texts]
