"""plugin_api records: argument declaration by signature, type rendering, spec validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import pytest

from dgenerate.plugin_api import (
    REQUIRED,
    Arg,
    ArgSpec,
    Category,
    DirectiveSpec,
    ImageProcessor,
    ImageProcessorSpec,
    PluginSpecError,
    QuantizerSpec,
    Size,
    TemplateFunctionSpec,
    arguments_of,
    format_default,
    format_type,
)
from dgenerate.plugin_api.specs import SPEC_CLASSES


class Base:
    def __init__(self, *, device: str = "cpu", model_offload: bool = False) -> None: ...


class Child(Base):
    def __init__(self, size: Size, quality: Annotated[int, Arg(help="0 to 100")] = 90,
                 _private: int = 0, secret: Annotated[str, Arg(hidden=True)] = "s",
                 *args: Any, device: str = "cuda", **kwargs: Any) -> None: ...


def test_arguments_of_class_walks_the_mro_subclass_first() -> None:
    arguments = arguments_of(Child)
    assert [arg.name for arg in arguments] == [
        "size", "quality", "secret", "device", "model_offload"]
    by_name = {arg.name: arg for arg in arguments}
    assert by_name["size"].required and by_name["size"].default is REQUIRED
    assert by_name["quality"].help == "0 to 100" and by_name["quality"].type is int
    assert by_name["secret"].hidden
    assert by_name["device"].default == "cuda"  # the subclass's default wins
    assert by_name["model_offload"].uri_name == "model-offload"


def test_arguments_of_function_and_skip() -> None:
    def function(text: str, count: int = 2) -> str: ...

    assert [arg.name for arg in arguments_of(function)] == ["text", "count"]
    assert [arg.name for arg in arguments_of(function, skip=["text"])] == ["count"]


def test_image_processor_common_arguments() -> None:
    class Sharpen(ImageProcessor):
        def __init__(self, amount: float = 1.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)

        def process(self, image):
            return image

    assert [arg.describe() for arg in arguments_of(Sharpen)] == [
        "amount: float = 1.0",
        "output-file: str | None = None",
        "output-overwrite: bool = False",
        "pre-resize: bool = False",
    ]


@pytest.mark.parametrize(("annotation", "text"), [
    (int, "int"),
    (str | None, "str | None"),
    (int | float | None, "int | float | None"),
    (list[int], "list[int]"),
    (tuple[int, ...], "tuple[int, ...]"),
    (dict[str, Any], "dict[str, any]"),
    (Sequence[float], "Sequence[float]"),
    (Literal["fp4", "nf4"], '"fp4" | "nf4"'),
    (Size, "Size"),
    (Annotated[int, Arg(help="x")], "int"),
    (None, "None"),
    ("ForwardRef", "ForwardRef"),
])
def test_format_type(annotation: Any, text: str) -> None:
    assert format_type(annotation) == text


def test_format_default() -> None:
    assert format_default("fp4") == '"fp4"'
    assert format_default('say "hi"') == '"say \\"hi\\""'
    assert format_default(None) == "None"
    assert format_default(False) == "False"
    assert format_default([1, 2]) == "[1, 2]"


def test_argspec_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="not a Python identifier"):
        ArgSpec(name="output-file")


def test_every_category_has_its_spec_class() -> None:
    assert set(SPEC_CLASSES) == set(Category)
    for category, spec_class in SPEC_CLASSES.items():
        assert spec_class.category is category
        assert category.hook.startswith("dgenerate_")


def test_category_specs_are_frozen_dataclasses() -> None:
    spec = QuantizerSpec(name="bnb", aliases=["bitsandbytes"], summary="8 and 4 bit.",
                         target="pkg.mod:Bnb")
    assert spec.aliases == ("bitsandbytes",)
    assert spec.names == ("bnb", "bitsandbytes")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]
    assert "QuantizerSpec(name='bnb'" in repr(spec)


@pytest.mark.parametrize(("factory", "message"), [
    (lambda: ImageProcessorSpec(name="Flip", summary="s", target=":F"), "the name must match"),
    (lambda: ImageProcessorSpec(name="my flip", summary="s", target=":F"), "the name must match"),
    (lambda: ImageProcessorSpec(name="flip", summary="", target=":F"), "summary is required"),
    (lambda: ImageProcessorSpec(name="flip", summary="a\nb", target=":F"), "must be one line"),
    (lambda: ImageProcessorSpec(name="flip", summary="s", target=None), "a target is required"),
    (lambda: ImageProcessorSpec(name="flip", summary="s", target="pkg.mod.Flip"),
     "not of the form 'package.module:Attribute'"),
    (lambda: ImageProcessorSpec(name="flip", summary="s", target=":F", aliases=["flip"]),
     "an alias repeats the name"),
    (lambda: ImageProcessorSpec(name="flip", summary="s", target=":F", aliases=["Bad"]),
     "alias 'Bad' must match"),
    (lambda: ImageProcessorSpec(name="flip", summary="s", target=":F", args=["x"]),
     "args must be ArgSpec records"),
    (lambda: ImageProcessorSpec(name="flip", summary="s", target=":F",
                                args=[ArgSpec(name="a"), ArgSpec(name="a")]),
     "declares a name twice"),
    (lambda: DirectiveSpec(name="\\echo", summary="s", target=":f"), "the name must match"),
    (lambda: TemplateFunctionSpec(name="my-func", summary="s", target=":f"),
     "the name must match"),
])
def test_spec_validation(factory: Any, message: str) -> None:
    with pytest.raises(PluginSpecError, match=message):
        factory()


@pytest.mark.parametrize("target", ["pkg.mod:Attr", ".mod:Attr", "..up.mod:Attr", ":Attr",
                                    "pkg:Outer.Inner", object])
def test_valid_targets(target: Any) -> None:
    assert ImageProcessorSpec(name="x", summary="s", target=target).target is target
