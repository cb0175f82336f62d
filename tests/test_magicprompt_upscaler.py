"""The magicprompt prompt upscaler on a tiny GPT-2 built here (random weights, a word
vocabulary): loading from a folder and from the Hugging Face cache by repository id,
seeding, variations, batching, the text rules and cleanup configs shared with gpt4all,
argument errors, the listing, and an end-to-end render with the embedded model."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugin_api.values import Prompt
from dgenerate.plugins_builtin.prompt_upscalers import llm_text
from dgenerate.plugins_builtin.prompt_upscalers.magicprompt.upscaler import MagicPromptUpscaler

from .source_fixtures import hub_cache_entry
from .support import BUILTIN_ONLY as ENV

WORDS = ("a", "cat", "dog", "horse", "field", "cloudy", "day", "mountain", "red", "blue",
         "green", "painting", "photo", "detailed", "sharp", "focus", "trending", "artstation",
         "by", "greg", "highly", "intricate", "beautiful", "landscape", "portrait", "lighting",
         ",", ".")
REPO = "tester/tiny-magicprompt"
CHAT_TEMPLATE = ("{% for message in messages %}<{{ message['role'] }}>{{ message['content'] }}"
                 "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")


def _tiny_gpt2(folder: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, "<unk>": 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>",
                                        eos_token="<|endoftext|>", unk_token="<unk>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("magicprompt") / "tiny-gpt2"
    _tiny_gpt2(folder)
    return folder


@pytest.fixture(scope="session")
def llm_hub_cache(tiny_llm, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("magicprompt-hub")
    hub_cache_entry(cache, REPO, {"main": tiny_llm})
    return cache


def upscaler(model: Path | str, **arguments) -> MagicPromptUpscaler:
    arguments = {"max_length": 6, "device": "cpu", **arguments}
    return MagicPromptUpscaler(model=str(model), **arguments)


def positives(results: list[list[Prompt]]) -> list[list[str]]:
    return [[prompt.positive for prompt in result] for result in results]


PROMPTS = [Prompt("a cat", "blurry"), Prompt("a red horse"), Prompt("a dog in a field")]


# ----------------------------------------------------------------- generation


def test_variations_keep_the_prompt_in_front_and_parts_pair(tiny_llm) -> None:
    results = upscaler(tiny_llm, seed=1, variations=3).upscale_all(PROMPTS)
    assert [len(result) for result in results] == [3, 3, 3]
    for prompt, result in zip(PROMPTS, results, strict=True):
        for item in result:
            assert item.positive.startswith(prompt.positive)
            assert len(item.positive) > len(prompt.positive) + 1
            assert (item.negative is None) == (prompt.negative is None)
        assert len({item.positive for item in result}) > 1, "variations are all alike"
    assert all(item.negative.startswith("blurry ") for item in results[0])
    only = upscaler(tiny_llm, seed=1, part="positive").upscale(Prompt("a cat", "blurry"))
    assert only[0].negative == "blurry" and only[0].positive != "a cat"


def test_the_same_seed_gives_the_same_prompts_other_seeds_others(tiny_llm) -> None:
    first = positives(upscaler(tiny_llm, seed=7, variations=2).upscale_all(PROMPTS))
    again = positives(upscaler(tiny_llm, seed=7, variations=2).upscale_all(PROMPTS))
    other = positives(upscaler(tiny_llm, seed=8, variations=2).upscale_all(PROMPTS))
    assert first == again
    assert first != other


def test_batch_size_does_not_change_the_results(tiny_llm) -> None:
    """Left padding and per-row seeding: a prompt's result depends on it and the seed only."""
    for settings in ({"seed": 3}, {"top_k": 1}):
        whole = upscaler(tiny_llm, variations=2, **settings).upscale_all(PROMPTS)
        split = upscaler(tiny_llm, variations=2, max_batch=2, **settings).upscale_all(PROMPTS)
        alone = upscaler(tiny_llm, variations=2, batch=False, **settings).upscale_all(PROMPTS)
        unlimited = upscaler(tiny_llm, variations=2, max_batch=None, **settings
                             ).upscale_all(PROMPTS)
        assert whole == split == alone == unlimited
        single = upscaler(tiny_llm, variations=2, **settings).upscale_all([PROMPTS[1]])
        assert single == [whole[1]]


def test_greedy_decoding_is_deterministic_without_a_seed(tiny_llm) -> None:
    one = upscaler(tiny_llm, top_k=1).upscale_all(PROMPTS)
    two = upscaler(tiny_llm, top_k=1, variations=2).upscale_all(PROMPTS)
    assert [[item] * 2 for [item] in one] == two


def test_remove_and_prepend_prompt(tiny_llm) -> None:
    plain = positives(upscaler(tiny_llm, seed=5).upscale_all(PROMPTS))
    removed = positives(upscaler(tiny_llm, seed=5, remove_prompt=True).upscale_all(PROMPTS))
    prepended = positives(upscaler(tiny_llm, seed=5, prepend_prompt=True, remove_prompt=True
                                   ).upscale_all(PROMPTS))
    for prompt, [whole], [rest], [front] in zip(PROMPTS, plain, removed, prepended, strict=True):
        assert rest and rest == whole[len(prompt.positive):].lstrip(" ,.;:")
        assert front == f"{prompt.positive} {rest}"


def test_preamble_is_seen_by_the_model_but_not_kept(tiny_llm) -> None:
    plain = positives(upscaler(tiny_llm, seed=5).upscale_all(PROMPTS))
    with_preamble = positives(upscaler(tiny_llm, seed=5, preamble="beautiful photo by greg"
                                       ).upscale_all(PROMPTS))
    assert plain != with_preamble
    for prompt, [text] in zip(PROMPTS, with_preamble, strict=True):
        assert text.startswith(prompt.positive) and "beautiful photo by greg" not in text


def test_block_regex_regenerates_until_nothing_matches(tiny_llm) -> None:
    [[free]] = positives(upscaler(tiny_llm, seed=11).upscale_all([PROMPTS[0]]))
    word = free.split()[2]  # the first word the model wrote
    pattern = rf"\b{re.escape(word.upper())}\b"  # block-regex ignores case
    [[blocked]] = positives(upscaler(tiny_llm, seed=11, block_regex=pattern
                                     ).upscale_all([PROMPTS[0]]))
    assert blocked != free and blocked.startswith("a cat ")
    assert not re.search(pattern, blocked, re.IGNORECASE)
    warnings: list[str] = []
    context = SimpleNamespace(warn=warnings.append)
    kept = upscaler(tiny_llm, seed=11, block_regex=".", max_attempts=2, context=context
                    ).upscale_all(PROMPTS[:2])
    assert kept == [[PROMPTS[0]], [PROMPTS[1]]]
    assert len(warnings) == 3 and "block-regex" in warnings[0] and "2 attempts" in warnings[0]


def test_cleanup_config_replaces_the_default_cleanup(tiny_llm, tmp_path) -> None:
    (tmp_path / "cleanup.py").write_text("def shout(text):\n    return text.upper() + '!'\n")
    (tmp_path / "cleanup.json").write_text(json.dumps([
        {"pattern": r"^a (\w+)", "substitution": r"the \1", "count": 1},
        {"function": "cleanup.py:shout"}]))
    plain = positives(upscaler(tiny_llm, seed=2).upscale_all(PROMPTS))
    cleaned = positives(upscaler(tiny_llm, seed=2, cleanup_config=str(tmp_path / "cleanup.json")
                                 ).upscale_all(PROMPTS))
    for [text], [result] in zip(plain, cleaned, strict=True):
        assert result == re.sub(r"^a (\w+)", r"the \1", text, count=1).upper() + "!"


def test_smart_truncate_cuts_after_the_last_sentence(tiny_llm) -> None:
    results = positives(upscaler(tiny_llm, seed=4, max_length=20, smart_truncate=True,
                                 variations=4).upscale_all(PROMPTS))
    plain = positives(upscaler(tiny_llm, seed=4, max_length=20, variations=4
                               ).upscale_all(PROMPTS))
    cut = 0
    for result, whole in zip(results, plain, strict=True):
        for text, full in zip(result, whole, strict=True):
            if "." in full[:-1]:
                assert text.endswith(".") and full.startswith(text[:-1])
                cut += text != full
            else:
                assert text == full
    assert cut, "no generation had an incomplete sentence at its end"


# --------------------------------------------------------------- model sources


@pytest.fixture
def offline_hub(llm_hub_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(llm_hub_cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(llm_hub_cache))
    return SimpleNamespace(offline_mode=True)


def test_repository_id_and_link_load_from_the_hub_cache(tiny_llm, offline_hub) -> None:
    expected = upscaler(tiny_llm, seed=9).upscale_all(PROMPTS)
    assert upscaler(REPO, seed=9, context=offline_hub).upscale_all(PROMPTS) == expected
    link = f"https://huggingface.co/{REPO}"
    assert upscaler(link, seed=9, context=offline_hub).upscale_all(PROMPTS) == expected
    with pytest.raises(DgenerateError, match=r"tester/absent.*offline"):
        upscaler("tester/absent", context=offline_hub)


def test_models_are_cached_in_memory(tiny_llm) -> None:
    created: list[object] = []

    class Cache:
        def __init__(self):
            self.objects: dict = {}

        def get_or_create(self, key, create, *, size=None, device="cpu"):
            if key not in self.objects:
                self.objects[key] = create()
                created.append(key)
            return self.objects[key]

    caches: dict[str, Cache] = {}
    context = SimpleNamespace(cache=lambda name: caches.setdefault(name, Cache()))
    first = upscaler(tiny_llm, context=context)
    second = upscaler(tiny_llm, seed=3, context=context)
    assert first._model is second._model and len(created) == 1
    upscaler(tiny_llm, dtype="bfloat16", context=context)
    assert len(created) == 2


def test_system_uses_the_chat_template_when_there_is_one(tiny_llm) -> None:
    from transformers import AutoTokenizer

    from dgenerate.plugins_builtin.prompt_upscalers.magicprompt.model import (
        LanguageModel,
        _input_text,
    )

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    plain = LanguageModel(None, tokenizer, "cpu")
    assert _input_text(plain, "a cat", "be brief", "describe:") == ("be brief describe: a cat",
                                                                    False)
    tokenizer.chat_template = CHAT_TEMPLATE
    chat = LanguageModel(None, tokenizer, "cpu")
    assert _input_text(chat, "a cat", "be brief", "describe:") == (
        "<system>be brief<user>describe: a cat<assistant>", True)
    assert _input_text(chat, "a cat", None, None) == ("a cat", False)


# ------------------------------------------------------------------ text rules


def test_default_cleanup_and_smart_truncate() -> None:
    assert llm_text.default_cleanup(' "a cat ,, red\n\n  sky , " ') == "a cat, red sky"
    assert llm_text.smart_truncate("A cat sat. A dog ran! The bird") == "A cat sat. A dog ran!"
    assert llm_text.smart_truncate("a cat with no end") == "a cat with no end"
    assert llm_text.smart_truncate("complete.") == "complete."


CONFIGS = {
    "json": json.dumps([
        {"function": "cleanup.py:my_function"},
        {"pattern": "\\byes\\b", "substitution": "no", "ignore_case": True, "multiline": False,
         "dotall": False, "count": 0},
        {"pattern": "\\bthe\\b", "substitution": "and", "ignorecase": True, "count": 1},
        {"function": "cleanup.py:my_function2"}]),
    "toml": '[[operations]]\nfunction = "cleanup.py:my_function"\n\n[[operations]]\n'
            'pattern = "\\\\byes\\\\b"\nsubstitution = "no"\nignore_case = true\n'
            'multiline = false\ndotall = false\ncount = 0\n\n[[operations]]\n'
            'pattern = "\\\\bthe\\\\b"\nsubstitution = "and"\nignorecase = true\ncount = 1\n\n'
            '[[operations]]\nfunction = "cleanup.py:my_function2"\n',
    "yaml": '- function: "cleanup.py:my_function"\n- pattern: "\\\\byes\\\\b"\n'
            '  substitution: "no"\n  ignore_case: true\n  multiline: false\n  dotall: false\n'
            '  count: 0\n- pattern: "\\\\bthe\\\\b"\n  substitution: "and"\n'
            '  ignorecase: true\n  count: 1\n- function: "cleanup.py:my_function2"\n',
}


@pytest.mark.parametrize("suffix", sorted(CONFIGS))
def test_cleanup_config_formats(tmp_path, suffix) -> None:
    (tmp_path / "cleanup.py").write_text(
        "def my_function(text):\n    return text.strip() + ' yes'\n\n"
        "def my_function2(text):\n    return '[' + text + ']'\n")
    nested = tmp_path / "configs"
    nested.mkdir()
    (nested / "cleanup.py").write_text("def my_function(text):\n    return 'wrong folder'\n")
    config = tmp_path / f"rules.{suffix}"
    config.write_text(CONFIGS[suffix])
    operations = llm_text.load_cleanup_config(str(config), owner="magicprompt")
    text = " The cat, YES, the dog "
    for operation in operations:
        text = operation(text)
    assert text == "[and cat, no, the dog no]"


BAD_CONFIGS = [
    ("rules.txt", "[]", "is not a .json, .toml or .yaml file"),
    ("rules.json", "{", "cannot be read"),
    ("rules.json", '{"pattern": "a"}', "must be a list of operations"),
    ("rules.json", '[{"pattern": "("}]', "operation 1: pattern '(' is not a valid regular"),
    ("rules.json", '[{"pattern": "a", "flags": 1}]', "operation 1: unknown keys flags"),
    ("rules.json", '[{"pattern": "a", "count": -1}]', "'count' must be a whole number"),
    ("rules.json", '[{"pattern": "a", "dotall": "yes"}]', "'dotall' must be true or false"),
    ("rules.json", '[{"pattern": "a", "substitution": "\\\\2"}]', "does not fit the pattern"),
    ("rules.json", '[{"substitution": "a"}]', "has neither 'function' nor 'pattern'"),
    ("rules.json", '[{"function": "nothing"}]', "must be written 'file.py:function_name'"),
    ("rules.json", '[{"function": "absent.py:f"}]', "does not exist"),
    ("rules.json", '[{"function": "helpers.py:absent"}]', "defines no function 'absent'"),
    ("rules.json", '[{"function": "broken.py:f"}]', "failed to load: ZeroDivisionError"),
    ("rules.toml", 'pattern = "a"', "holds [[operations]] tables"),
    ("rules.yaml", "- pattern: [unclosed", "cannot be read"),
    ("rules.yaml", "- 3", "operation 1 is not a mapping"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_CONFIGS)
def test_bad_cleanup_configs_are_one_clear_error(tmp_path, name, content, message) -> None:
    (tmp_path / "helpers.py").write_text("def f(text):\n    return text\n")
    (tmp_path / "broken.py").write_text("1 / 0\n")
    (tmp_path / name).write_text(content)
    with pytest.raises(PluginArgumentError) as caught:
        llm_text.load_cleanup_config(str(tmp_path / name), owner="magicprompt")
    text = str(caught.value)
    assert text.startswith(f"magicprompt: cleanup-config {str(tmp_path / name)!r}: ")
    assert message in text and "\n" not in text
    with pytest.raises(PluginArgumentError, match="no such file"):
        llm_text.load_cleanup_config(str(tmp_path / "absent.json"), owner="magicprompt")


# ------------------------------------------------------------- argument errors


@pytest.mark.parametrize(("arguments", "message"), [
    ({"dtype": "float8"}, "dtype='float8' is not one of float32, float16, bfloat16"),
    ({"part": "middle"}, "part='middle' is not one of both, positive, negative"),
    ({"variations": 0}, "variations=0 must be at least 1"),
    ({"max_length": 0}, "max-length=0 must be at least 1"),
    ({"temperature": 0.0}, "temperature=0.0 must be greater than 0"),
    ({"top_k": -1}, "top-k=-1 must be 0"),
    ({"top_p": 1.5}, "top-p=1.5 must be greater than 0 and at most 1"),
    ({"max_batch": 0}, "max-batch=0 must be at least 1"),
    ({"max_attempts": 0}, "max-attempts=0 must be at least 1"),
    ({"block_regex": "(unclosed"}, "block-regex='(unclosed' is not a valid regular expression"),
    ({"quantizer": "sdnq"}, "quantizer= needs the dgenerate kernel"),
])
def test_bad_arguments(tiny_llm, arguments, message) -> None:
    with pytest.raises(PluginArgumentError) as caught:
        upscaler(tiny_llm, **arguments)
    assert message in str(caught.value) and str(caught.value).startswith("magicprompt: ")


def test_bad_models(tmp_path) -> None:
    with pytest.raises(DgenerateError, match="does not exist: it is neither a folder"):
        upscaler(tmp_path / "absent")
    with pytest.raises(DgenerateError, match="a transformers LLM is a folder of files"):
        upscaler("https://example.com/model.safetensors")
    (tmp_path / "weights.safetensors").write_bytes(b"x")
    with pytest.raises(DgenerateError, match="is a file; give the folder"):
        upscaler(tmp_path / "weights.safetensors")
    with pytest.raises(DgenerateError, match="cannot load a tokenizer from the folder"):
        upscaler(tmp_path)


def test_quantizer_comes_from_the_kernel(tiny_llm) -> None:
    from dgenerate.plugin_api import Category

    asked: list[tuple] = []

    class Backend:
        def transformers_config(self):
            return None

    def create(category, uri, **extra):
        asked.append((category, uri, extra))
        if uri == "absent":
            raise DgenerateError("no quantizer named 'absent'")
        return Backend()

    context = SimpleNamespace(create=create)
    with pytest.raises(PluginArgumentError, match="quantizer='absent': no quantizer named"):
        upscaler(tiny_llm, quantizer="absent", context=context)
    with pytest.raises(PluginArgumentError, match="cannot quantize transformers models"):
        upscaler(tiny_llm, quantizer="fake;bits=8", context=context)
    assert asked[-1] == (Category.QUANTIZER, "fake;bits=8", {"device": "cpu"})


# -------------------------------------------------------------- command line


def test_help_lists_every_argument_without_heavy_imports() -> None:
    result = run_cli("--prompt-upscaler-help", "magicprompt", env=ENV)
    assert result.exit_code == 0, result.stderr
    for line in ('part: str = "both"', 'model: str = "Gustavosta/MagicPrompt-Stable-Diffusion"',
                 'dtype: str = "float32"', "seed: int | None = None", "variations: int = 1",
                 "max-length: int = 100", "temperature: float = 0.7", "top-k: int = 50",
                 "top-p: float = 1.0", "system: str | None = None",
                 "preamble: str | None = None", "remove-prompt: bool = False",
                 "prepend-prompt: bool = False", "batch: bool = True",
                 "max-batch: int | None = 50", "quantizer: str | None = None",
                 "block-regex: str | None = None", "max-attempts: int = 10",
                 "smart-truncate: bool = False", "cleanup-config: str | None = None",
                 "device: str | None = None"):
        assert line in result.stdout, line
    assert "context" not in result.stdout.split("arguments:")[1].split("\n\n")[0]
    assert_import_light(["--prompt-upscaler-help", "magicprompt"],
                        forbidden=(*HEAVY_MODULES, "transformers", "spacy", "tokenizers"),
                        env=ENV)


def test_render_with_the_embedded_model_writes_the_upscaled_prompts(tiny_llm, tmp_path) -> None:
    out = tmp_path / "out"
    result = run_cli("embedded:shapes", "--prompts", "a cat; blurry", "--prompt-upscaler",
                     f"magicprompt;model={tiny_llm};seed=3;variations=2;device=cpu",
                     "--output-path", str(out), "--inference-steps", "2", "--output-configs",
                     env=ENV)
    assert result.exit_code == 0, result.stderr
    expected = [f"{item.positive}; {item.negative}" for item in upscaler(
        tiny_llm, seed=3, variations=2, max_length=100).upscale(Prompt("a cat", "blurry"))]
    written = []
    for config in sorted(out.glob("*.dgen")):
        for line in config.read_text().splitlines():
            if line.startswith("--prompts "):
                written.append(shlex.split(line.rstrip(" \\"))[1])
    assert sorted(written) == sorted(expected)
    assert len(list(out.glob("*.png"))) == 2


def test_bad_upscaler_argument_on_the_command_line_is_one_line(tiny_llm, tmp_path) -> None:
    result = run_cli("embedded:shapes", "--prompts", "a cat", "--prompt-upscaler",
                     f"magicprompt;model={tiny_llm};dtype=float8", "--output-path",
                     str(tmp_path), "--inference-steps", "2", env=ENV)
    assert result.exit_code != 0
    assert "dtype='float8' is not one of float32, float16, bfloat16" in result.stderr
    assert "Traceback" not in result.stderr
