"""The attention prompt upscaler: weights on noun chunks in both syntaxes, and the real
model loading path (unpacked cache folder, wheel download through the web cache) with a
tiny spaCy pipeline trained here and served from 127.0.0.1."""

from __future__ import annotations

import random
import shutil
import zipfile
from pathlib import Path

import pytest

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugin_api.values import Prompt
from dgenerate.plugin_api.webcache import WebCache
from dgenerate.plugins_builtin.prompt_upscalers.attention import models
from dgenerate.plugins_builtin.prompt_upscalers.attention.upscaler import AttentionUpscaler
from dgenerate.plugins_builtin.prompt_upscalers.attention.weights import chunks, weigh
from dgenerate.plugins_builtin.prompt_weighters.sd_embed.parser import parse

from .source_fixtures import FileServer
from .support import BUILTIN_ONLY

# (text, universal POS tags, absolute heads, dependency labels): enough for a parser to
# learn the noun chunks of these sentences
SENTENCES = [
    ("a large horse in a green field", ["DET", "ADJ", "NOUN", "ADP", "DET", "ADJ", "NOUN"],
     [2, 2, 2, 2, 6, 6, 3], ["det", "amod", "ROOT", "prep", "det", "amod", "pobj"]),
    ("the red ball on a wooden table", ["DET", "ADJ", "NOUN", "ADP", "DET", "ADJ", "NOUN"],
     [2, 2, 2, 2, 6, 6, 3], ["det", "amod", "ROOT", "prep", "det", "amod", "pobj"]),
    ("a dog sees a cat", ["DET", "NOUN", "VERB", "DET", "NOUN"], [1, 2, 2, 4, 2],
     ["det", "nsubj", "ROOT", "det", "dobj"]),
    ("an old man walks", ["DET", "ADJ", "NOUN", "VERB"], [2, 2, 3, 3],
     ["det", "amod", "nsubj", "ROOT"]),
    ("a small house near the blue river", ["DET", "ADJ", "NOUN", "ADP", "DET", "ADJ", "NOUN"],
     [2, 2, 2, 2, 6, 6, 3], ["det", "amod", "ROOT", "prep", "det", "amod", "pobj"]),
    ("the cat eats a fish", ["DET", "NOUN", "VERB", "DET", "NOUN"], [1, 2, 2, 4, 2],
     ["det", "nsubj", "ROOT", "det", "dobj"]),
]
NAME = models.MODELS["en"]


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blank English pipeline with a morphologizer and a parser trained on SENTENCES."""
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("morphologizer")
    parser = nlp.add_pipe("parser")
    for label in sorted({label for *_, labels in SENTENCES for label in labels} - {"ROOT"}):
        parser.add_label(label)
    examples = [Example.from_dict(nlp.make_doc(text), {"pos": pos, "heads": heads,
                                                       "deps": deps})
                for text, pos, heads, deps in SENTENCES]
    optimizer = nlp.initialize(lambda: examples)
    order = random.Random(0)
    for _ in range(40):
        order.shuffle(examples)
        nlp.update(examples, sgd=optimizer, drop=0.0)
    folder = tmp_path_factory.mktemp("spacy") / "pipeline"
    nlp.to_disk(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_wheel(tiny_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline packed like a published spaCy model wheel."""
    version = models.model_version()
    wheel = tmp_path_factory.mktemp("wheel") / f"{NAME}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{NAME}/__init__.py", "")
        for path in sorted(tiny_pipeline.rglob("*")):
            if path.is_file():
                archive.write(path, f"{NAME}/{NAME}-{version}/"
                                    f"{path.relative_to(tiny_pipeline).as_posix()}")
        archive.writestr(f"{NAME}-{version}.dist-info/METADATA", f"Name: {NAME}\n")
    return wheel


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty dgenerate cache and no pipeline held in memory."""
    monkeypatch.setenv("DGENERATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "_loaded", {})
    return tmp_path / "cache"


class Context:
    """The part of the plugin context the upscaler uses: fetch through a web cache."""

    def __init__(self, root: Path | None = None) -> None:
        self.urls: list[str] = []
        self.web = WebCache(root) if root else None

    def fetch(self, url: str) -> str:
        self.urls.append(url)
        if self.web is None:
            raise AssertionError(f"nothing should be downloaded, got {url}")
        return self.web.fetch(url)


def manual_doc(text: str, pos: list[str], heads: list[int], deps: list[str],
               lang: str = "en"):
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.blank(lang)
    words = text.split(" ")
    return Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False], pos=pos,
               heads=heads, deps=deps)


def segments(text: str) -> list[tuple[str, float]]:
    return [(piece.strip(), round(weight, 4)) for piece, weight in parse(text)
            if piece.strip()]


def test_sd_embed_weights_parse_and_stay_in_range() -> None:
    doc = manual_doc(*SENTENCES[0])
    text = weigh(doc, random.Random(3), 0.1, 0.9, "sd-embed")
    assert text.startswith("(a large horse:1.") and " in (a green field:1." in text
    parsed = segments(text)
    assert [piece for piece, _ in parsed] == ["a large horse", "in", "a green field"]
    assert parsed[1][1] == 1.0
    assert all(1.1 <= weight <= 1.9 for piece, weight in parsed if piece != "in")
    assert weigh(doc, random.Random(3), 0.1, 0.9, "sd-embed") == text
    assert weigh(doc, random.Random(4), 0.1, 0.9, "sd-embed") != text
    low = weigh(doc, random.Random(3), -0.5, -0.2, "sd-embed")
    assert all(0.5 <= weight <= 0.8 for piece, weight in segments(low) if piece != "in")


def test_compel_syntax_writes_the_weight_after_the_group() -> None:
    doc = manual_doc(*SENTENCES[2])
    text = weigh(doc, random.Random(1), 0.2, 0.2, "compel")
    assert text == "(a dog)1.20 sees (a cat)1.20"


def test_existing_weights_and_brackets_are_left_alone() -> None:
    doc = manual_doc("a ( dog:1.5 ) sees a cat",
                     ["DET", "PUNCT", "NOUN", "PUNCT", "VERB", "DET", "NOUN"],
                     [2, 2, 4, 2, 4, 6, 4], ["det", "punct", "nsubj", "punct", "ROOT", "det",
                                             "dobj"])
    text = weigh(doc, random.Random(1), 0.5, 0.5, "sd-embed")
    assert text == "a ( dog:1.5 ) sees (a cat:1.50)"
    assert ("dog", 1.5) in segments(text)


def test_languages_without_noun_chunk_rules_weight_adjective_noun_runs() -> None:
    doc = manual_doc("большая лошадь бежит по полю", ["ADJ", "NOUN", "VERB", "ADP", "NOUN"],
                     [1, 2, 2, 4, 2], ["amod", "nsubj", "ROOT", "case", "obl"], lang="ru")
    with pytest.raises(NotImplementedError):
        list(doc.noun_chunks)
    assert [doc.text[start:end] for start, end in chunks(doc)] == ["большая лошадь", "полю"]


def test_a_pipeline_already_unpacked_in_the_cache_is_loaded(
        tiny_pipeline: Path, cache: Path) -> None:
    folder = models.model_folder(NAME, models.model_version())
    assert folder == cache / "spacy" / f"{NAME}-{models.model_version()}"
    shutil.copytree(tiny_pipeline, folder)
    context = Context()
    upscaler = AttentionUpscaler(seed=5, context=context)
    result = upscaler.upscale(Prompt("a large horse in a green field", "an old man walks"))
    assert len(result) == 1 and context.urls == []
    assert [piece for piece, _ in segments(result[0].positive)] == [
        "a large horse", "in", "a green field"]
    assert [piece for piece, _ in segments(result[0].negative)] == ["an old man", "walks"]
    positive = AttentionUpscaler(part="positive", seed=5, context=context).upscale(
        Prompt("a dog sees a cat", "the cat eats a fish"))[0]
    assert positive.positive.startswith("(a dog:") and positive.negative == (
        "the cat eats a fish")


def test_the_wheel_is_downloaded_once_and_unpacked(
        tiny_wheel: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FileServer()
    url = server.add(f"/models/{NAME}-{models.model_version()}.whl", tiny_wheel)
    server.start()
    try:
        monkeypatch.setenv(models.URL_VARIABLE, server.base + "/models/{name}-{version}.whl")
        context = Context(cache)
        first = AttentionUpscaler(seed=2, syntax="compel", context=context).upscale(
            Prompt("the red ball on a wooden table"))[0]
        again = AttentionUpscaler(seed=2, syntax="compel", context=context).upscale(
            Prompt("the red ball on a wooden table"))[0]
        assert context.urls == [url] and server.hits[url.removeprefix(server.base)] == 1
    finally:
        server.stop()
    assert first == again
    # held in memory: the same pipeline object, not loaded from disk again
    assert models.load_pipeline("en", context) is models.load_pipeline("en", context)
    assert first.positive.startswith("(the red ball)1.") and " on (a wooden table)1." in (
        first.positive)
    unpacked = models.model_folder(NAME, models.model_version())
    assert (unpacked / "config.cfg").is_file() and (unpacked / "parser").is_dir()
    assert not [path for path in unpacked.parent.iterdir() if path.name.startswith(".")]


def test_a_download_that_is_not_a_wheel_is_a_clear_error(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FileServer()
    server.add("/broken.whl", b"\x00not a zip file" * 10,
               headers={"Content-Type": "application/octet-stream"})
    server.start()
    try:
        monkeypatch.setenv(models.URL_VARIABLE, server.base + "/broken.whl")
        with pytest.raises(DgenerateError, match="is not a wheel"):
            AttentionUpscaler(context=Context(cache)).upscale(Prompt("a dog"))
    finally:
        server.stop()
    assert not models.model_folder(NAME, models.model_version()).exists()


def test_default_url_is_the_spacy_models_release() -> None:
    assert models.model_url("en_core_web_sm", "3.8.0") == (
        "https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/"
        "en_core_web_sm-3.8.0-py3-none-any.whl")
    assert set(models.MODELS) == {"en", "de", "fr", "es", "it", "nl", "pt", "ru", "zh"}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(PluginArgumentError, match="min=0.9 is larger than max=0.1"):
        AttentionUpscaler(min=0.9, max=0.1)
    with pytest.raises(PluginArgumentError, match="min=-1.5"):
        AttentionUpscaler(min=-1.5)
    with pytest.raises(PluginArgumentError, match="lang='xx'"):
        AttentionUpscaler(lang="xx")  # type: ignore[arg-type]
    with pytest.raises(PluginArgumentError, match="syntax='a1111'"):
        AttentionUpscaler(syntax="a1111")  # type: ignore[arg-type]


def test_help_lists_every_argument_without_heavy_imports() -> None:
    result = run_cli("--prompt-upscaler-help", "attention", env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    for line in ('part: "both" | "positive" | "negative" = "both"', "min: float = 0.1",
                 "max: float = 0.9", "seed: int | None = None", 'lang: "en" | "de"',
                 'syntax: "sd-embed" | "compel" = "sd-embed"'):
        assert line in result.stdout
    assert "owner" not in result.stdout and "context" not in result.stdout
    assert_import_light(["--prompt-upscaler-help", "attention"],
                        forbidden=(*HEAVY_MODULES, "spacy", "thinc"),
                        env={"DGENERATE_DISABLE_PLUGINS": ""})


def test_the_command_line_renders_the_weighted_prompt(
        tiny_pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_loaded", {})
    cache = tmp_path / "cache"
    shutil.copytree(tiny_pipeline, cache / "spacy" / f"{NAME}-{models.model_version()}")
    result = run_cli("embedded:shapes", "--prompts", "a dog sees a cat",
                     "--prompt-upscaler", "attention;seed=1;min=0.3;max=0.3",
                     "--inference-steps", "2", "--seeds", "1", "--output-configs",
                     "--output-path", str(tmp_path / "out"),
                     env={**BUILTIN_ONLY, "DGENERATE_CACHE": str(cache)})
    assert result.exit_code == 0, result.stderr
    configs = list((tmp_path / "out").glob("*.dgen"))
    assert len(configs) == 1
    assert "--prompts '(a dog:1.30) sees (a cat:1.30)'" in configs[0].read_text()
