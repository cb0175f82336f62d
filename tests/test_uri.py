"""The URI mini-language: splitting, type conversion and binding, with their errors."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Literal

import pytest

from dgenerate.kernel.uri import bind_arguments, parse_uri
from dgenerate.plugin_api import REQUIRED, ArgSpec, Padding, Size
from dgenerate.plugin_api.conversion import convert_value
from dgenerate.plugin_api.errors import PluginArgumentError, UriSyntaxError

# ------------------------------------------------------------------ splitting

PARSE_CASES = [
    ("flip", "flip", {}),
    ("  flip  ", "flip", {}),
    ("resize;size=512", "resize", {"size": "512"}),
    ("resize; size = 512 ; align=8", "resize", {"size": "512", "align": "8"}),
    ("canny;lower=50;upper=100", "canny", {"lower": "50", "upper": "100"}),
    ("p;output-file=a.png", "p", {"output_file": "a.png"}),
    ("p;output_file=a.png", "p", {"output_file": "a.png"}),
    ('p;text="quoted; value"', "p", {"text": "quoted; value"}),
    ("p;text='single; quoted'", "p", {"text": "single; quoted"}),
    ('p;text=  "spaces kept inside "  ', "p", {"text": "spaces kept inside "}),
    ('p;q="bnb;bits=8"', "p", {"q": "bnb;bits=8"}),
    ("p;q=\"adetailer;pw='compel;syntax=sdwui'\"", "p",
     {"q": "adetailer;pw='compel;syntax=sdwui'"}),
    (r'p;text="say \"hi\""', "p", {"text": 'say "hi"'}),
    (r"p;text='back\\slash'", "p", {"text": "back\\slash"}),
    ("p;list=[1, 2, 3]", "p", {"list": "[1, 2, 3]"}),
    ("p;csv=1,2,3", "p", {"csv": "1,2,3"}),
    ("p;prompt=a cat's toy", "p", {"prompt": "a cat's toy"}),
    ("p;expr=a=b", "p", {"expr": "a=b"}),
    ("p;empty=", "p", {"empty": ""}),
    ('p;empty=""', "p", {"empty": ""}),
    ("p;a=1;", "p", {"a": "1"}),
    ("p;;a=1", "p", {"a": "1"}),
    ('"my;odd name";a=1', "my;odd name", {"a": "1"}),
    ("https://host/model.safetensors?x=1;revision=main", "https://host/model.safetensors?x=1",
     {"revision": "main"}),
    ("AutoencoderKL;model=some/repo;subfolder=vae", "AutoencoderKL",
     {"model": "some/repo", "subfolder": "vae"}),
]


@pytest.mark.parametrize(("text", "name", "arguments"), PARSE_CASES)
def test_parse_uri(text: str, name: str, arguments: dict[str, str]) -> None:
    parsed = parse_uri(text)
    assert parsed.name == name
    assert parsed.arguments == arguments
    assert parsed.positional == ()


def test_positional_parts_only_when_allowed() -> None:
    parsed = parse_uri("AutoencoderKL;my_vae.safetensors;dtype=float16", allow_positional=True)
    assert parsed.positional == ("my_vae.safetensors",)
    assert parsed.arguments == {"dtype": "float16"}
    with pytest.raises(UriSyntaxError, match="'my_vae.safetensors' is not of the form key=value"):
        parse_uri("AutoencoderKL;my_vae.safetensors")


PARSE_ERRORS = [
    ("", "is empty"),
    ("   ", "is empty"),
    (";a=1", "has no name"),
    ('p;a="unclosed', "quote at character 5 that is never closed"),
    ("p;a='unclosed", "never closed"),
    ('p;a="x"y', "unexpected text 'y' after a quoted value"),
    ('p;a="x" y;b=2', "unexpected text 'y' after a quoted value"),
    ("p;=5", "has no key"),
    ("p;bad key=5", "'bad key' is not a valid argument name"),
    ("p;a=1;a=2", "gives the argument 'a' twice"),
    ("p;output-file=1;output_file=2", "gives the argument 'output-file' twice"),
    ("p;justaword", "'justaword' is not of the form key=value"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_uri_errors(text: str, message: str) -> None:
    with pytest.raises(UriSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_uri(text)


# ------------------------------------------------------------------ conversion


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


CONVERT_CASES: list[tuple[str, Any, Any]] = [
    ("hello", str, "hello"),
    ("12", int, 12),
    (" -3 ", int, -3),
    ("1.5", float, 1.5),
    ("2", float, 2.0),
    ("true", bool, True),
    ("TRUE", bool, True),
    ("False", bool, False),
    ("fAlSe", bool, False),
    ("none", int | None, None),
    ("None", str | None, None),
    ("7", int | None, 7),
    ("7", int | str, 7),
    ("seven", int | str, "seven"),
    ("auto", int | str, "auto"),
    ("[1, 2, 3]", list[int], [1, 2, 3]),
    ("1,2,3", list[int], [1, 2, 3]),
    ("5", list[int], [5]),
    ("0.5, 1.5", list[float], [0.5, 1.5]),
    ("[1, 2]", Sequence[float], [1.0, 2.0]),
    ("a,b", list[str], ["a", "b"]),
    ("['a;b', 'c']", list[str], ["a;b", "c"]),
    ("(1, 2)", tuple[int, int], (1, 2)),
    ("1,2", tuple[int, int], (1, 2)),
    ("1,2,3", tuple[int, ...], (1, 2, 3)),
    ("{'a': 1, 'b': 2}", dict[str, int], {"a": 1, "b": 2}),
    ("{'a': 1}", dict, {"a": 1}),
    ("[1, 'x', None]", Any, [1, "x", None]),
    ("3", Any, 3),
    ("plain words", Any, "plain words"),
    ("nf4", Literal["fp4", "nf4"], "nf4"),
    ("3", Literal[1, 3], 3),
    ("red", Color, Color.RED),
    ("GREEN", Color, Color.GREEN),
    ("512", Size, Size(512, 512)),
    ("512x768", Size, Size(512, 768)),
    ("10x20", Padding, Padding(10, 20, 10, 20)),
    ("512x768", Size | None, Size(512, 768)),
    ("none", Size | None, None),
]


@pytest.mark.parametrize(("text", "annotation", "expected"), CONVERT_CASES)
def test_convert_value(text: str, annotation: Any, expected: Any) -> None:
    value = convert_value(text, annotation, what="argument 'x'")
    assert value == expected
    assert type(value) is type(expected)


CONVERT_ERRORS = [
    ("twelve", int, "expects int, got 'twelve'"),
    ("1.5", int, "expects int, got '1.5'"),
    ("yes", bool, r"expects bool, got 'yes' \(use true or false\)"),
    ("1", bool, "expects bool"),
    ("abc", float, "expects float"),
    ("abc", int | None, r"expects int \| None"),
    ("1,x", list[int], r"expects list\[int\], got '1,x'"),
    ("[1, 2", list[int], "not a valid Python literal"),
    ("{'a': 1}", list[int], "it is not a list"),
    ("1,2,3", tuple[int, int], "expected 2 values, got 3"),
    ("[1]", dict[str, int], "it is not a dictionary"),
    ("xx", Literal["fp4", "nf4"], "choose one of 'fp4', 'nf4'"),
    ("blue", Color, "choose one of 'red', 'green'"),
    ("5x", Size, "is not WIDTHxHEIGHT or WIDTH"),
    ("1x2x3", Padding, "must be one number"),
]


@pytest.mark.parametrize(("text", "annotation", "message"), CONVERT_ERRORS)
def test_convert_value_errors(text: str, annotation: Any, message: str) -> None:
    with pytest.raises(PluginArgumentError, match=message):
        convert_value(text, annotation, what="argument 'x' of image processor 'p'")


# -------------------------------------------------------------------- binding

SPECS = (
    ArgSpec(name="size", type=Size),
    ArgSpec(name="align", type=int | None, default=None),
    ArgSpec(name="output_file", type=str | None, default=None),
    ArgSpec(name="device", type=str, default="cpu", hidden=True),
)


def bind(text: str, **supplied: Any) -> dict[str, Any]:
    return bind_arguments(parse_uri(text), SPECS, owner="image processor 'resize'",
                          supplied=supplied)


def test_bind_converts_and_maps_names() -> None:
    assert bind("resize;size=512x256;align=8;output-file=o.png") == {
        "size": Size(512, 256), "align": 8, "output_file": "o.png"}


def test_bind_supplied_values_fill_only_declared_and_missing_arguments() -> None:
    assert bind("resize;size=64", device="cuda:1", unrelated=5) == {
        "size": Size(64, 64), "device": "cuda:1"}
    assert bind("resize;size=64;align=16", align=8)["align"] == 16


@pytest.mark.parametrize(("text", "message"), [
    ("resize;sise=512", "has no argument 'sise'; did you mean 'size'?"),
    ("resize;size=5;outputfile=x", "did you mean 'output-file'?"),
    ("resize;size=5;zzz=1", "has no argument 'zzz'. It accepts: size, align, output-file"),
    ("resize;size=5;device=cuda", "has no argument 'device'"),  # hidden: not settable
    ("resize", "needs the argument 'size'"),
    ("resize;align=8", "image processor 'resize' needs the argument 'size'"),
    ("resize;size=big", "argument 'size' of image processor 'resize' expects Size, got 'big'"),
    ("resize;size=8;align=x", r"argument 'align' of image processor 'resize' expects int \| None"),
])
def test_bind_errors(text: str, message: str) -> None:
    with pytest.raises(PluginArgumentError, match=message):
        bind(text)


def test_bind_required_argument_can_be_supplied_by_the_kernel() -> None:
    specs = (ArgSpec(name="model", type=str, default=REQUIRED, hidden=True),)
    assert bind_arguments(parse_uri("x"), specs, owner="x", supplied={"model": "m"}) == {
        "model": "m"}


def test_bind_no_arguments_message() -> None:
    with pytest.raises(PluginArgumentError, match="It accepts no arguments"):
        bind_arguments(parse_uri("flip;a=1"), (), owner="image processor 'flip'")
