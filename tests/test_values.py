"""Shared value parsers: sizes, paddings, CSV numbers, booleans, chain groups, prompts."""

from __future__ import annotations

import pytest

from dgenerate.plugin_api.errors import ValueSyntaxError
from dgenerate.plugin_api.values import (
    Padding,
    Prompt,
    Size,
    align_size,
    check_chain_groups,
    format_size,
    parse_bool,
    parse_csv_floats,
    parse_csv_ints,
    parse_int,
    parse_padding,
    parse_size,
    split_chain_groups,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("512", Size(512, 512)),
    ("512x768", Size(512, 768)),
    (" 512 x 768 ", Size(512, 768)),
    ("1024X576", Size(1024, 576)),
    ("1", Size(1, 1)),
])
def test_parse_size(text: str, expected: Size) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "is empty"),
    ("x", "whole numbers"),
    ("512x", "whole numbers"),
    ("abc", "whole numbers"),
    ("1.5x2", "whole numbers"),
    ("0x512", "dimension below 1"),
    ("-8", "dimension below 1"),
    ("1x2x3", "more than two dimensions"),
])
def test_parse_size_errors(text: str, message: str) -> None:
    with pytest.raises(ValueSyntaxError, match=message):
        parse_size(text)


def test_parse_size_alignment() -> None:
    assert parse_size("512x768", align=8) == Size(512, 768)
    with pytest.raises(ValueSyntaxError,
                       match=r"output size '700x701' is not aligned to 8 pixels; "
                             "the nearest aligned size is 704x704"):
        parse_size("700x701", align=8, what="output size")


@pytest.mark.parametrize(("size", "align", "expected"), [
    ((700, 700), 8, Size(704, 704)),
    ((511, 513), 64, Size(512, 512)),
    ((3, 3), 8, Size(8, 8)),
    ((512, 768), 8, Size(512, 768)),
])
def test_align_size(size: tuple[int, int], align: int, expected: Size) -> None:
    assert align_size(size, align) == expected


def test_format_size_and_str() -> None:
    assert format_size((512, 768)) == "512x768"
    assert str(Size(64, 32)) == "64x32"
    assert Size.from_uri_value("64x32") == Size(64, 32)


@pytest.mark.parametrize(("text", "expected"), [
    ("32", Padding(32, 32, 32, 32)),
    ("10x20", Padding(10, 20, 10, 20)),
    ("10x20x30x40", Padding(10, 20, 30, 40)),
    ("0", Padding(0, 0, 0, 0)),
])
def test_parse_padding(text: str, expected: Padding) -> None:
    assert parse_padding(text) == expected
    assert str(parse_padding(text)) == "x".join(map(str, expected))


@pytest.mark.parametrize(("text", "message"), [
    ("", "must be one number"),
    ("1x2x3", "must be one number"),
    ("1x2x3x4x5", "must be one number"),
    ("ax2", "whole numbers"),
    ("-1", "negative"),
])
def test_parse_padding_errors(text: str, message: str) -> None:
    with pytest.raises(ValueSyntaxError, match=message):
        parse_padding(text)


def test_csv_numbers() -> None:
    assert parse_csv_floats("0.9,0.2, 1.1,1.2") == [0.9, 0.2, 1.1, 1.2]
    assert parse_csv_floats("3") == [3.0]
    assert parse_csv_ints("12") == [12]
    assert parse_csv_ints("12,22") == [12, 22]
    with pytest.raises(ValueSyntaxError, match=r"'x' is not a number"):
        parse_csv_floats("1,x", what="sigmas")
    with pytest.raises(ValueSyntaxError, match=r"'1.5' is not a whole number"):
        parse_csv_ints("1,1.5")
    with pytest.raises(ValueSyntaxError, match="is empty"):
        parse_csv_ints(" ")


def test_parse_bool_and_int() -> None:
    assert parse_bool("True") is True
    assert parse_bool("false") is False
    with pytest.raises(ValueSyntaxError, match="not a boolean"):
        parse_bool("yes")
    assert parse_int(" 42 ") == 42
    with pytest.raises(ValueSyntaxError, match="must be at least 1"):
        parse_int("0", minimum=1)
    with pytest.raises(ValueSyntaxError, match="not a whole number"):
        parse_int("4.2")


@pytest.mark.parametrize(("values", "groups"), [
    ([], [[]]),
    (["a"], [["a"]]),
    (["a", "b"], [["a", "b"]]),
    (["a", "+", "b"], [["a"], ["b"]]),
    (["a", "b", "+", "c"], [["a", "b"], ["c"]]),
    (["+", "c"], [[], ["c"]]),
    (["+", "+", "c"], [[], [], ["c"]]),
    (["a", "+"], [["a"], []]),
    (["canny;lower=1+2"], [["canny;lower=1+2"]]),
])
def test_split_chain_groups(values: list[str], groups: list[list[str]]) -> None:
    assert split_chain_groups(values) == groups


def test_check_chain_groups() -> None:
    check_chain_groups([["a"], ["b"]], 2, what="--seed-image-processors")
    check_chain_groups([["a"]], 3, what="--seed-image-processors")
    with pytest.raises(ValueSyntaxError,
                       match="--control-image-processors: 3 processor chains .* for 2 input "
                             "images"):
        check_chain_groups([[], [], ["c"]], 2, what="--control-image-processors")


def test_prompt() -> None:
    assert Prompt.parse("a cat; blurry") == Prompt("a cat", "blurry")
    assert Prompt.parse("a cat") == Prompt("a cat", None)
    assert Prompt.parse("a; b; c") == Prompt("a", "b; c")
    assert str(Prompt("a cat", "blurry")) == "a cat; blurry"
