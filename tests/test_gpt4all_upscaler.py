"""The gpt4all prompt upscaler: the listing and errors without the optional gpt4all
package, and, where it is installed, generation with a tiny llama GGUF model written here
(random weights, a small sentencepiece-style vocabulary)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dgenerate.plugin_api import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import HEAVY_MODULES, assert_import_light, run_cli
from dgenerate.plugin_api.values import Prompt

from .support import BUILTIN_ONLY as ENV
from .support import clean_environment, run_dgenerate

HAVE_GPT4ALL = importlib.util.find_spec("gpt4all") is not None
needs_gpt4all = pytest.mark.skipif(not HAVE_GPT4ALL, reason="the optional gpt4all extra "
                                   "(pip install dgenerate[gpt4all]) is not installed")
WORDS = ("a", "cat", "dog", "horse", "field", "red", "blue", "green", "painting", "photo",
         "sharp", "focus", "by", "greg", "cloudy", "day", "mountain", "portrait", "lighting",
         "detailed", "landscape", "trending", "highly", "intricate")


# ------------------------------------------------------- a tiny GGUF, written here


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value) -> bytes:
    """A GGUF metadata value: str, bool, int (uint32), float (float32) or an array
    given as (element type, items) with 8 = string, 6 = float32, 5 = int32."""
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<II", 4, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    kind, items = value
    packed = b"".join(_string(item) if kind == 8 else struct.pack(
        {6: "<f", 5: "<i"}[kind], item) for item in items)
    return struct.pack("<IIQ", 9, kind, len(items)) + packed


def write_tiny_llama_gguf(path: Path, *, embedding: int = 16, feed_forward: int = 32) -> None:
    """A one-block llama model in GGUF v3 (float32 tensors) with an SPM vocabulary of
    special tokens, the 256 byte tokens and a few words."""
    rng = np.random.default_rng(0)
    # every prefix of every word and every letter, so that words tokenize as words (the
    # sentencepiece tokenizer merges adjacent pieces whose join is in the vocabulary)
    pieces = sorted({"\u2581" + word[:end] for word in WORDS for end in range(len(word) + 1)}
                    | {letter for word in WORDS for letter in word}, key=lambda p: (len(p), p))
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{byte:02X}>" for byte in range(256)), *pieces]
    types = [2, 3, 3, *([6] * 256), *([1] * len(pieces))]
    scores = [0.0] * 259 + [float(len(piece)) for piece in pieces]
    metadata = {
        "general.architecture": "llama", "general.name": "tiny", "general.file_type": 0,
        "llama.context_length": 256, "llama.embedding_length": embedding,
        "llama.block_count": 1, "llama.feed_forward_length": feed_forward,
        "llama.attention.head_count": 2, "llama.attention.head_count_kv": 2,
        "llama.rope.dimension_count": embedding // 2,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": (8, tokens),
        "tokenizer.ggml.scores": (6, scores), "tokenizer.ggml.token_type": (5, types),
        "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.add_bos_token": True,
    }

    def weights(*shape: int, scale: float = 0.5) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    output = weights(len(tokens), embedding, scale=2.0)
    output[:259] *= 0.01  # words are likelier than bytes: readable generations
    ones = np.ones(embedding, np.float32)
    tensors = {"token_embd.weight": weights(len(tokens), embedding),
               "output_norm.weight": ones, "output.weight": output,
               "blk.0.attn_norm.weight": ones, "blk.0.ffn_norm.weight": ones,
               "blk.0.ffn_gate.weight": weights(feed_forward, embedding),
               "blk.0.ffn_up.weight": weights(feed_forward, embedding),
               "blk.0.ffn_down.weight": weights(embedding, feed_forward)}
    for name in ("q", "k", "v", "output"):
        tensors[f"blk.0.attn_{name}.weight"] = weights(embedding, embedding)
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    header += b"".join(_string(key) + _value(value) for key, value in metadata.items())
    data = b""
    for name, array in tensors.items():
        dimensions = list(reversed(array.shape))  # GGUF lists the innermost first
        header += _string(name) + struct.pack("<I", len(dimensions))
        header += b"".join(struct.pack("<Q", size) for size in dimensions)
        header += struct.pack("<IQ", 0, len(data))  # float32, offset
        data += array.tobytes()
        data += b"\0" * (-len(data) % 32)
    header += b"\0" * (-len(header) % 32)
    path.write_bytes(header + data)


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gpt4all") / "tiny-llama.gguf"
    write_tiny_llama_gguf(path)
    return path


def upscaler(model: Path | str, **arguments):
    from dgenerate.plugins_builtin.prompt_upscalers.gpt4all.upscaler import Gpt4AllUpscaler

    return Gpt4AllUpscaler(model=str(model), **{"max_length": 6, **arguments})


PROMPTS = [Prompt("a cat", "blurry"), Prompt("a red horse")]


# ------------------------------------------------------------ with gpt4all


@needs_gpt4all
def test_generation_keeps_the_prompt_in_front(tiny_gguf) -> None:
    results = upscaler(tiny_gguf, variations=2).upscale_all(PROMPTS)
    assert [len(result) for result in results] == [2, 2]
    for prompt, result in zip(PROMPTS, results, strict=True):
        for item in result:
            assert item.positive.startswith(prompt.positive)
            assert len(item.positive) > len(prompt.positive)
            assert (item.negative is None) == (prompt.negative is None)
            assert "\n" not in item.positive


@needs_gpt4all
def test_greedy_generation_and_remove_and_prepend_prompt(tiny_gguf) -> None:
    plain = upscaler(tiny_gguf, top_k=1).upscale_all(PROMPTS)
    assert upscaler(tiny_gguf, top_k=1).upscale_all(PROMPTS) == plain
    removed = upscaler(tiny_gguf, top_k=1, remove_prompt=True).upscale_all(PROMPTS)
    prepended = upscaler(tiny_gguf, top_k=1, prepend_prompt=True).upscale_all(PROMPTS)
    for prompt, [whole], [rest], [front] in zip(PROMPTS, plain, removed, prepended, strict=True):
        assert rest.positive and not rest.positive.startswith(prompt.positive)
        assert whole.positive.endswith(rest.positive)
        assert front.positive == f"{prompt.positive} {rest.positive}"


@needs_gpt4all
def test_system_asks_as_a_chat_and_keeps_only_the_answer(tiny_gguf) -> None:
    [[result]] = upscaler(tiny_gguf, top_k=1, system="describe a picture", preamble="be brief"
                          ).upscale_all([Prompt("a dog")])
    assert "###" not in result.positive and "be brief" not in result.positive
    [[plain]] = upscaler(tiny_gguf, top_k=1).upscale_all([Prompt("a dog")])
    assert result != plain


@needs_gpt4all
def test_block_regex_keeps_the_prompt_when_every_attempt_is_blocked(tiny_gguf) -> None:
    warnings: list[str] = []
    results = upscaler(tiny_gguf, block_regex=".", max_attempts=2,
                       context=SimpleNamespace(warn=warnings.append)).upscale_all(PROMPTS)
    assert results == [[PROMPTS[0]], [PROMPTS[1]]]
    assert len(warnings) == 3 and all("2 attempts" in warning for warning in warnings)
    word_free = upscaler(tiny_gguf, block_regex=r"\bcat\b.*\bcat\b").upscale_all(PROMPTS)
    assert all(item.positive.lower().count("cat") <= 1 for item in word_free[1])


@needs_gpt4all
def test_urls_go_through_the_web_cache_and_models_stay_loaded(tiny_gguf) -> None:
    fetched: list[str] = []
    loaded: dict = {}

    class Cache:
        def get_or_create(self, key, create, *, size=None, device="cpu"):
            if key not in loaded:
                loaded[key] = create()
            return loaded[key]

    context = SimpleNamespace(fetch=lambda url: fetched.append(url) or str(tiny_gguf),
                              cache=lambda name: Cache())
    url = "https://example.com/models/tiny-llama.gguf"
    first = upscaler(url, context=context)
    second = upscaler(url, context=context, temperature=0.5)
    assert fetched == [url, url] and first._model is second._model and len(loaded) == 1
    assert first.upscale(Prompt("a cat"))[0].positive.startswith("a cat")


@needs_gpt4all
def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all")
    with pytest.raises(DgenerateError, match=r"gpt4all: cannot load the model .*broken\.gguf"):
        upscaler(broken)


# ---------------------------------------------------------- without gpt4all


@pytest.fixture
def without_gpt4all(tmp_path) -> dict[str, str]:
    """The environment of a subprocess in which gpt4all cannot be imported or found."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['gpt4all'] = None\n")
    return clean_environment(PYTHONPATH=str(shim), DGENERATE_DISABLE_PLUGINS="*")


def test_listing_says_gpt4all_is_unavailable_without_the_package(without_gpt4all) -> None:
    result = run_dgenerate("--prompt-upscaler-help", env=without_gpt4all)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if '"gpt4all"' in line]
    assert "unavailable: missing gpt4all" in line
    [other] = [line for line in result.stdout.splitlines() if '"magicprompt"' in line]
    assert "unavailable" not in other


def test_using_it_without_the_package_is_one_clear_error(without_gpt4all, tmp_path) -> None:
    result = run_dgenerate("embedded:shapes", "--prompts", "a cat", "--prompt-upscaler",
                           "gpt4all", "--output-path", str(tmp_path), "--inference-steps", "2",
                           env=without_gpt4all)
    assert result.returncode != 0
    assert "gpt4all" in result.stderr and "not installed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_the_class_itself_says_how_to_install_gpt4all(tmp_path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "gpt4all", None)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(DgenerateError, match=r"pip install dgenerate\[gpt4all\]"):
        upscaler(model)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"min_p": 1.5}, "min-p=1.5 must be between 0 and 1"),
    ({"context_tokens": 0}, "context-tokens=0 must be at least 1"),
    ({"compute": " "}, "compute= is empty"),
    ({"variations": 0}, "variations=0 must be at least 1"),
    ({"top_p": 0.0}, "top-p=0.0 must be greater than 0"),
    ({"block_regex": "["}, "block-regex='[' is not a valid regular expression"),
    ({"part": "all"}, "part='all' is not one of both, positive, negative"),
    ({"model": "absent.gguf"}, "model='absent.gguf' is not a file"),
    ({"model": "https://example.com/m.gguf"}, "a URL needs the dgenerate kernel"),
])
def test_bad_arguments(tmp_path, arguments, message) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    arguments = {"model": str(model), **arguments}
    with pytest.raises(PluginArgumentError) as caught:
        upscaler(**arguments)
    assert message in str(caught.value) and str(caught.value).startswith("gpt4all: ")


EXPECTED_ARGUMENTS = {
    "part": "both",
    "model": "https://huggingface.co/failspy/Phi-3-mini-128k-instruct-abliterated-v3-GGUF/"
             "resolve/main/Phi-3-mini-128k-instruct-abliterated-v3_q4.gguf",
    "variations": 1, "max-length": 100, "temperature": 0.7, "top-k": 40, "top-p": 0.4,
    "min-p": 0.0, "system": None, "preamble": None, "remove-prompt": False,
    "prepend-prompt": False, "compute": "cpu", "block-regex": None, "max-attempts": 10,
    "context-tokens": 2048, "smart-truncate": False, "cleanup-config": None,
}


def test_arguments_and_defaults_follow_the_manual() -> None:
    from dgenerate.plugin_api import arguments_of
    from dgenerate.plugins_builtin.prompt_upscalers.gpt4all.upscaler import Gpt4AllUpscaler

    visible = {spec.uri_name: spec.default for spec in arguments_of(Gpt4AllUpscaler)
               if not spec.hidden and spec.name != "owner"}  # owner: see PartwiseUpscaler
    assert visible == EXPECTED_ARGUMENTS


@needs_gpt4all
def test_help_lists_every_argument_without_heavy_imports() -> None:
    result = run_cli("--prompt-upscaler-help", "gpt4all", env=ENV)
    assert result.exit_code == 0, result.stderr
    for name, default in EXPECTED_ARGUMENTS.items():
        shown = f'"{default}"' if isinstance(default, str) else str(default)
        assert f"{name}: " in result.stdout and f" = {shown}\n" in result.stdout, name
    assert_import_light(["--prompt-upscaler-help", "gpt4all"],
                        forbidden=(*HEAVY_MODULES, "gpt4all", "spacy"), env=ENV)


def test_the_name_listing_imports_nothing_heavy() -> None:
    assert_import_light(["--prompt-upscaler-help"],
                        forbidden=(*HEAVY_MODULES, "gpt4all", "spacy", "transformers"), env=ENV)
