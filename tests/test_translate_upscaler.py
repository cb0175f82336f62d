"""The translate prompt upscaler: language names, part handling, the mariana provider
loading a tiny MarianMT model from a fake Hugging Face cache by its hub slug, and the
argos provider installing a tiny argos package from a local package index.

The tiny models have random weights, so their translations are nonsense; the tests
compare them with the same models called directly, and check batching, determinism and
which parts of a prompt change.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from dgenerate.plugin_api import PluginArgumentError, caching
from dgenerate.plugin_api.testing import assert_import_light, run_cli
from dgenerate.plugin_api.values import Prompt
from dgenerate.plugins_builtin.prompt_upscalers.translate.argos import split_prompt_sentences
from dgenerate.plugins_builtin.prompt_upscalers.translate.languages import resolve_language
from dgenerate.plugins_builtin.prompt_upscalers.translate.upscaler import TranslateUpscaler

from .source_fixtures import FileServer, hub_cache_entry
from .support import BUILTIN_ONLY

REPOSITORY = "Helsinki-NLP/opus-mt-de-en"
TEXTS = ["ein roter hund im park", "der himmel ist blau", "katze schläft auf dem sofa",
         "haus baum wasser", "berg sonne mond und ein hund"]
WORDS = [*{word: None for text in TEXTS for word in text.split()},
         "a", "red", "dog", "in", "the", "park", "sky", "is", "blue", "cat", "sleeps", "on"]


# ------------------------------------------------------------------ tiny models


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MarianMT model and MarianTokenizer (sentencepiece trained here), laid out as
    an opus-mt repository: ``<pad>`` last in the vocabulary, as in the real ones."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    work = tmp_path_factory.mktemp("marian")
    generator = random.Random(0)
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(" ".join(generator.choice(WORDS)
                                         for _ in range(generator.randint(3, 9)))
                                for _ in range(400)), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(work / "sp"), vocab_size=80, model_type="bpe",
        hard_vocab_limit=False, unk_id=1, bos_id=-1, eos_id=0, pad_id=-1,
        unk_piece="<unk>", eos_piece="</s>", minloglevel=2)
    pieces = spm.SentencePieceProcessor(model_file=str(work / "sp.model"))
    vocab = {pieces.id_to_piece(index): index for index in range(pieces.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    folder = work / "model"
    folder.mkdir()
    for name in ("source.spm", "target.spm"):
        shutil.copyfile(work / "sp.model", folder / name)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = MarianTokenizer(vocab=str(folder / "vocab.json"),
                                source_spm=str(folder / "source.spm"),
                                target_spm=str(folder / "target.spm"))
    config = MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=512, pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"], decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"], max_length=16, num_beams=1,
        init_std=0.5, scale_embedding=True)
    torch.manual_seed(0)
    model = MarianMTModel(config).eval()
    model.generation_config.max_length = 16  # what the opus-mt models set (512) is too long
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    shutil.copyfile(work / "sp.model", work / "sentencepiece.model")
    return folder


@pytest.fixture()
def hub(tiny_marian: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding the tiny model as Helsinki-NLP/opus-mt-de-en."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    hub_cache_entry(cache, REPOSITORY, {"main": tiny_marian})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(caching, "_LOCAL", type(caching._LOCAL)())
    return cache


@functools.cache
def loaded(folder: Path) -> tuple:
    from transformers import MarianMTModel, MarianTokenizer

    return MarianTokenizer.from_pretrained(folder), MarianMTModel.from_pretrained(folder).eval()


def direct(folder: Path, texts: list[str]) -> list[str]:
    """The tiny model called directly, one batch, its own generation settings."""
    import torch

    tokenizer, model = loaded(folder)
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
    with torch.inference_mode():
        tokens = model.generate(**batch, do_sample=False)
    return [text.strip() for text in tokenizer.batch_decode(tokens, skip_special_tokens=True)]


class Context:
    """The kernel services the upscaler uses: offline mode and an object cache."""

    def __init__(self, offline: bool = False) -> None:
        self.offline_mode = offline
        self.created = 0
        self.entries: dict = {}

    def cache(self, name: str):
        assert name == "translate"
        return self

    def get_or_create(self, key, create, *, size=None, device="cpu"):
        if key not in self.entries:
            self.created += 1
            self.entries[key] = create()
        return self.entries[key]


# --------------------------------------------------------------- arguments


@pytest.mark.parametrize(("value", "code"), [
    ("de", "de"), ("DE", "de"), ("german", "de"), ("German", "de"), ("de-DE", "de"),
    ("zh", "zh"), ("chinese", "zh"), ("zh-Hant", "zt"), ("pt_BR", "pb"), ("english", "en")])
def test_language_codes_and_names(value: str, code: str) -> None:
    assert resolve_language(value, "input") == code


def test_unknown_language_lists_what_is_accepted() -> None:
    with pytest.raises(PluginArgumentError) as caught:
        TranslateUpscaler(input="klingon")
    message = str(caught.value)
    assert "input='klingon'" in message and "de (german)" in message and "zh (chinese)" in message
    with pytest.raises(PluginArgumentError, match="output='xx'"):
        TranslateUpscaler(input="de", output="xx")


@pytest.mark.parametrize(("arguments", "text"), [
    ({"provider": "google"}, "provider='google'"), ({"part": "middle"}, "part='middle'"),
    ({"max_batch": 0}, "max-batch=0")])
def test_bad_arguments(arguments: dict, text: str) -> None:
    with pytest.raises(PluginArgumentError, match=text):
        TranslateUpscaler(input="de", **arguments)


def test_same_language_changes_nothing_and_loads_nothing() -> None:
    upscaler = TranslateUpscaler(input="english", output="en", provider="mariana")
    prompt = Prompt("a red dog", "blurry")
    assert upscaler.upscale_all([prompt]) == [[prompt]]


def test_help_lists_every_argument_without_heavy_imports() -> None:
    result = run_cli("--prompt-upscaler-help", "translate", env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    for line in ("input: str", 'output: str = "en"', 'part: str = "both"',
                 'provider: str = "argos"', "batch: bool = True",
                 "max-batch: int | None = 50", "device: str | None = None"):
        assert line in result.stdout
    assert "Helsinki-NLP" in result.stdout and "argostranslate" in result.stdout
    assert_import_light(["--prompt-upscaler-help", "translate"])


def test_sentences_split_at_sentence_punctuation() -> None:
    assert split_prompt_sentences("Ein Hund. Eine Katze! Was?  Ja") == [
        "Ein Hund.", "Eine Katze!", "Was?", "Ja"]
    assert split_prompt_sentences("ein hund, eine katze") == ["ein hund, eine katze"]
    assert split_prompt_sentences("一只狗。一只猫") == ["一只狗。", "一只猫"]


# ------------------------------------------------------------------ mariana


def test_mariana_loads_the_slug_from_the_hub_cache_and_matches_the_model(
        hub: Path, tiny_marian: Path) -> None:
    context = Context(offline=True)
    upscaler = TranslateUpscaler(input="german", provider="mariana", context=context,
                                 device="cpu")
    expected = direct(tiny_marian, TEXTS)
    assert len(set(expected)) > 1  # the tiny model's output depends on its input
    results = upscaler.upscale_all([Prompt(text) for text in TEXTS])
    assert [result[0].positive for result in results] == expected
    assert all(len(result) == 1 and result[0].negative is None for result in results)
    # deterministic, and the model is loaded once through the object cache
    again = TranslateUpscaler(input="de", provider="mariana", context=context)
    assert again.translate(TEXTS) == expected
    assert context.created == 1


@pytest.mark.parametrize(("batch", "max_batch"), [(False, 50), (True, 2), (True, None)])
def test_mariana_batching_gives_the_unbatched_results(hub: Path, tiny_marian: Path,
                                                      batch: bool, max_batch) -> None:
    one_by_one = [direct(tiny_marian, [text])[0] for text in TEXTS]
    upscaler = TranslateUpscaler(input="de", provider="mariana", batch=batch,
                                 max_batch=max_batch, context=Context(offline=True))
    calls = []
    translator = upscaler._translator_for()
    upscaler._translator = lambda texts: calls.append(len(texts)) or translator(texts)
    assert upscaler.translate(TEXTS) == one_by_one
    assert calls == {False: [1] * 5, 2: [2, 2, 1], None: [5]}[max_batch if batch else False]


@pytest.mark.parametrize("part", ["both", "positive", "negative"])
def test_mariana_parts(hub: Path, tiny_marian: Path, part: str) -> None:
    positive, negative = TEXTS[0], TEXTS[1]
    translated = dict(zip(TEXTS[:2], direct(tiny_marian, TEXTS[:2]), strict=True))
    upscaler = TranslateUpscaler(input="de", provider="mariana", part=part,
                                 context=Context(offline=True))
    [[result]] = upscaler.upscale_all([Prompt(positive, negative)])
    assert result.positive == (translated[positive] if part != "negative" else positive)
    assert result.negative == (translated[negative] if part != "positive" else negative)


def test_mariana_missing_model_offline_is_one_clear_error(hub: Path) -> None:
    from dgenerate.plugin_api import DgenerateError

    upscaler = TranslateUpscaler(input="fr", provider="mariana",
                                 context=Context(offline=True))
    with pytest.raises(DgenerateError) as caught:
        upscaler.translate(["un chien"])
    assert "'Helsinki-NLP/opus-mt-fr-en'" in str(caught.value)
    assert "offline mode" in str(caught.value)


def test_missing_provider_library_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from dgenerate.plugin_api import DgenerateError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "argostranslate" else real(name, *rest))
    with pytest.raises(DgenerateError, match=r"argostranslate: pip install dgenerate\[argos\]"):
        TranslateUpscaler(input="de").translate(["ein hund"])


def test_mariana_bad_device(hub: Path) -> None:
    from dgenerate.plugin_api import DgenerateError

    upscaler = TranslateUpscaler(input="de", provider="mariana", device="gpu7")
    with pytest.raises(DgenerateError, match="device='gpu7'"):
        upscaler.translate(["ein hund"])


def test_cli_translates_prompts_before_rendering(hub: Path, tiny_marian: Path,
                                                 tmp_path: Path) -> None:
    first, second = direct(tiny_marian, TEXTS[:2])
    out = tmp_path / "out"
    result = run_cli("embedded:shapes", "--prompts", f"{TEXTS[0]}; verschwommen",
                     f"<upscaler: translate;input=de;provider=mariana> {TEXTS[1]}; {TEXTS[0]}",
                     "--prompt-upscaler", "translate;input=german;provider=mariana;part=positive",
                     "--output-path", str(out), "--inference-steps", "2", "--output-configs",
                     "--offline-mode", env=BUILTIN_ONLY)
    assert result.exit_code == 0, result.stderr
    configs = [path.read_text(encoding="utf-8") for path in sorted(out.glob("*.dgen"))]
    assert len(configs) == 2
    # the option's chain translates the positive part only; the prompt's own chain both
    assert any(first in text and "verschwommen" in text for text in configs)
    assert any(second in text and first in text and "verschwommen" not in text
               for text in configs)
    assert not any(TEXTS[0] in text or TEXTS[1] in text for text in configs)


# -------------------------------------------------------------------- argos

ARGOS_SCRIPT = textwrap.dedent('''
    import json, socket, sys

    real_connect = socket.socket.connect

    def local_only(self, address):  # argos must not reach anything but the test server
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost"):
            raise OSError(f"network access to {address} in a test")
        return real_connect(self, address)

    socket.socket.connect = local_only

    from dgenerate.plugin_api import DgenerateError
    from dgenerate.plugins_builtin.prompt_upscalers.translate.upscaler import TranslateUpscaler

    class Context:
        def __init__(self, offline):
            self.offline_mode = offline

    texts = json.loads(sys.argv[1])
    report = {}
    try:
        TranslateUpscaler(input="de", context=Context(True)).translate(texts)
    except DgenerateError as error:
        report["offline_error"] = str(error)
    upscaler = TranslateUpscaler(input="german", output="english", context=Context(False))
    report["batched"] = upscaler.translate(texts)
    report["single"] = TranslateUpscaler(input="de", batch=False,
                                         context=Context(True)).translate(texts)
    report["two_sentences"] = upscaler.translate([texts[0] + ". " + texts[1]])[0]

    # the package's model, called as argos calls it: one text (one sentence) per call
    import ctranslate2
    from argostranslate import package, settings
    [installed] = package.get_installed_packages()
    translator = ctranslate2.Translator(str(installed.package_path / "model"), device="cpu",
                                        compute_type=settings.compute_type)

    def tokens(text):
        [result] = translator.translate_batch([installed.tokenizer.encode(text)],
                                              replace_unknowns=True, length_penalty=0.2,
                                              beam_size=settings.beam_size)
        return result.hypotheses[0]

    report["direct"] = [installed.tokenizer.decode(tokens(text)).strip() for text in texts]
    report["direct_sentences"] = installed.tokenizer.decode(
        tokens(texts[0] + ".") + tokens(texts[1])).strip()
    report["packages"] = sorted(path.name for path in settings.package_data_dir.iterdir())
    print(json.dumps(report))
''')


@pytest.fixture(scope="session")
def argos_package(tiny_marian: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A German -> English argos package (.argosmodel) holding the tiny model converted to
    CTranslate2 and its sentencepiece model."""
    from ctranslate2.converters import TransformersConverter

    work = tmp_path_factory.mktemp("argos")
    folder = work / "translate-de_en-1_0"
    TransformersConverter(str(tiny_marian)).convert(str(folder / "model"), force=True)
    shutil.copyfile(tiny_marian.parent / "sentencepiece.model", folder / "sentencepiece.model")
    (folder / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    archive = work / "translate-de_en-1_0.argosmodel"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(work).as_posix())
    return archive


METADATA = {"package_version": "1.0", "argos_version": "1.5", "from_code": "de",
            "from_name": "German", "to_code": "en", "to_name": "English",
            "type": "translate", "code": "translate-de_en"}


def test_argos_installs_from_the_index_and_translates_offline_after(
        argos_package: Path, tmp_path: Path) -> None:
    server = FileServer().start()
    try:
        link = server.add("/translate-de_en-1_0.argosmodel", argos_package)
        index = json.dumps([{**METADATA, "links": [link]}]).encode()
        server.add("/index.json", index)
        env = {**os.environ, "ARGOS_PACKAGE_INDEX": server.base + "/",
               "XDG_DATA_HOME": str(tmp_path / "data"),
               "XDG_CONFIG_HOME": str(tmp_path / "config"),
               "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        env.pop("ARGOS_PACKAGES_DIR", None)
        script = tmp_path / "argos_run.py"
        script.write_text(ARGOS_SCRIPT, encoding="utf-8")
        texts = TEXTS[:4]
        process = subprocess.run([sys.executable, str(script), json.dumps(texts)], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert process.returncode == 0, process.stderr
        report = json.loads(process.stdout.strip().splitlines()[-1])
        hits = dict(server.hits)
    finally:
        server.stop()
    assert "no argostranslate package for de -> en" in report["offline_error"]
    assert "offline mode" in report["offline_error"]
    assert hits == {"/index.json": 1, "/translate-de_en-1_0.argosmodel": 1}
    assert report["packages"] == ["translate-de_en-1_0"]
    assert report["batched"] == report["direct"] == report["single"]
    assert all(report["batched"]) and len(set(report["direct"])) > 1
    # two sentences are translated one by one, their tokens joined (what argos does)
    assert report["two_sentences"] == report["direct_sentences"]
    assert report["two_sentences"] != report["direct"][0]
