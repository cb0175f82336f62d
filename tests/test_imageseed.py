"""The --image-seeds grammar: every form, and precise errors."""

from __future__ import annotations

from typing import Any

import pytest

from dgenerate.kernel.imageseed import (
    AdapterImage,
    ImageSeedError,
    Resize,
    is_tensor_file,
    parse_image_seed,
    split_list,
    without_frame_slice,
)
from dgenerate.kernel.render.inputs import target_size
from dgenerate.plugin_api import Size

CASES: list[tuple[str, dict[str, Any]]] = [
    ("seed.png", {"images": ("seed.png",)}),
    ("  seed.png  ", {"images": ("seed.png",)}),
    ("seed.png;mask.png", {"images": ("seed.png",), "masks": ("mask.png",)}),
    ("seed.png;512x512", {"resize": Resize(512, 512)}),
    ("seed.png;1024", {"resize": Resize(1024)}),
    ("seed.png;mask.png;512x768", {"masks": ("mask.png",), "resize": Resize(512, 768)}),
    ("seed.png;mask=m.png", {"masks": ("m.png",)}),
    ("seed.png;resize=512x512;aspect=false", {"resize": Resize(512, 512), "aspect": False}),
    ("seed.png;mask=m.png;resize=512x512;aspect=True",
     {"masks": ("m.png",), "resize": Resize(512, 512), "aspect": True}),
    ("seed.png;resize=1000;align=64", {"resize": Resize(1000), "align": 64}),
    ("seed.png;align=64", {"align": 64}),
    ("seed.png;mask.png;align=16", {"masks": ("mask.png",), "align": 16}),
    ("s.png;mask=m.png;control=c.png;resize=512x512",
     {"masks": ("m.png",), "control": ("c.png",), "resize": Resize(512, 512)}),
    ("s.png;control=c1.png, c2.png", {"control": ("c1.png", "c2.png")}),
    ("c1.png, c2.png;align=64", {"images": ("c1.png", "c2.png"), "align": 64}),
    ("a.gif;frame-start=3;frame-end=10", {"frame_start": 3, "frame_end": 10}),
    ("a.gif;frame_end=2", {"frame_end": 2}),
    ("s.gif;floyd=stage1.gif", {"floyd": "stage1.gif"}),
    ("img.png;latents=path/l.pt", {"latents": ("path/l.pt",)}),
    ("full.pt;latents=partial.pt", {"images": ("full.pt",), "latents": ("partial.pt",)}),
    ("images: a.png, b.png", {"images": ("a.png", "b.png"), "batched": True}),
    ("images: a.png, b.png;1024", {"batched": True, "resize": Resize(1024)}),
    ("images: a.png, b.png;mask=m.png", {"masks": ("m.png",)}),
    ("images: a.png, b.png; ma.png, mb.png", {"masks": ("ma.png", "mb.png")}),
    ("images: a.png, b.png;latents=l1.pt, l2.pt", {"latents": ("l1.pt", "l2.pt")}),
    ("latents: a.pt", {"latents": ("a.pt",), "images": ()}),
    ("latents: a.pt, latents: b.pt", {"latents": ("a.pt", "b.pt")}),
    ("adapter: a.png", {"adapters": ((AdapterImage("a.png"),),)}),
    ("adapter: a.png + b.png, c.png",
     {"adapters": ((AdapterImage("a.png"), AdapterImage("b.png")), (AdapterImage("c.png"),))}),
    ("adapter: a.png|resize=256|align=8|aspect=False",
     {"adapters": ((AdapterImage("a.png", Resize(256), 8, False),),)}),
    ("adapter: 'https://u.com?arg=hello+world' + image2.png",
     {"adapters": ((AdapterImage("https://u.com?arg=hello+world"), AdapterImage("image2.png")),)}),
    ("img2img.png;adapter=\"https://u.com?a=b+c\" + i2.png",
     {"adapters": ((AdapterImage("https://u.com?a=b+c"), AdapterImage("i2.png")),)}),
    ("adapter: a.png;control=c.png", {"control": ("c.png",)}),
    ('"my;odd, name.png";mask="m;m.png"', {"images": ("my;odd, name.png",),
                                           "masks": ("m;m.png",)}),
    ("dog's photo.png;mask=m.png", {"images": ("dog's photo.png",)}),
    ("https://host/img.png?x=1;https://host/mask.png?y=2",
     {"images": ("https://host/img.png?x=1",), "masks": ("https://host/mask.png?y=2",)}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[case[0] for case in CASES])
def test_forms(text: str, expected: dict[str, Any]) -> None:
    seed = parse_image_seed(text)
    for field, value in expected.items():
        assert getattr(seed, field) == value, field


ERRORS = [
    ("", "is empty"),
    (";mask.png", "the first part"),
    ("a.png;mask=m.png;c.png", "cannot be mixed with the short form"),
    ("a.png;m.png;resize=64", "resize= cannot be mixed with the short form"),
    ("a.png;m.png;aspect=false", "aspect= cannot be mixed"),
    ("a.png;m.png;64;x.png", "at most a mask and a size"),
    ("a.png;64;m.png", "the size '64' must come last"),
    ("a.png;mask=m.png;mask=n.png", "the argument 'mask' is given twice"),
    ("a.png;bogus=1", "unknown argument 'bogus'"),
    ("a.png;resize=big", "resize 'big' is not WIDTHxHEIGHT or WIDTH"),
    ("a.png;resize=0x10", "has a dimension below 1"),
    ("a.png;align=12", "align 12 must be a multiple of 8"),
    ("a.png;align=0", "must be at least 1"),
    ("a.png;aspect=maybe", "is not a boolean"),
    ("a.gif;frame-start=5;frame-end=2", "frame-start 5 is after frame-end 2"),
    ("a.gif;frame-start=-1", "must be at least 0"),
    ("a.png;mask=", "the argument 'mask' has no value"),
    ("a.png;mask=m1.png, ", "has an empty entry"),
    ('a.png;mask="m.png', "never closed"),
    ("images: a.png, b.png, c.png;mask=1.png, 2.png", "2 masks were given for 3 images"),
    ("a.png, b.png;mask=m.png", "use the images: prefix to batch img2img inputs"),
    ("latents: a.png", "latents: inputs must be tensor files"),
    ("a.png;latents=l.png", "latents 'l.png' is not a tensor file"),
    ("a.png;control=c.pt", "control image 'c.pt' is a tensor file"),
    ("adapter: a.safetensors", "adapter image 'a.safetensors' is a tensor file"),
    ("adapter: a.png|size=3", "adapter image option 'size=3' is not resize="),
    ("adapter: a.png + , b.png", "has an empty entry"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[error[0] for error in ERRORS])
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ImageSeedError, match=message.replace("(", r"\(")):
        parse_image_seed(text)


def test_split_list_and_tensor_files() -> None:
    assert split_list("a, 'b, c' ,d") == ["a", "b, c", "d"]
    assert split_list("x|'y|z'", "|") == ["x", "y|z"]
    assert is_tensor_file("latents.PT") and is_tensor_file("https://h/x.safetensors?dl=1")
    assert not is_tensor_file("x.png")


@pytest.mark.parametrize(("original", "resize", "aspect", "align", "expected"), [
    ((1279, 719), None, True, 8, (1272, 712)),
    ((1279, 719), Resize(64), True, 8, (64, 32)),
    ((1279, 719), Resize(512, 512), True, 8, (512, 288)),
    ((1279, 719), Resize(512, 512), False, 8, (512, 512)),
    ((1279, 719), Resize(100), False, 8, (96, 96)),
    ((1000, 1000), Resize(1000), True, 64, (960, 960)),
    ((30, 20), None, True, 64, (64, 64)),
])
def test_target_size(original: tuple[int, int], resize: Resize | None, aspect: bool,
                     align: int, expected: tuple[int, int]) -> None:
    assert target_size(Size(*original), resize, aspect=aspect, align=align) == Size(*expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("a.gif;frame-start=3;frame-end=5", "a.gif"),
    ("a.gif;m.gif;frame_end=3", "a.gif;m.gif"),
    ("images: a.gif, b.png;frame-start=2", "images: a.gif, b.png"),
    ("a.gif;mask=m.png;resize=64x64", "a.gif;mask=m.png;resize=64x64"),
    ('"x;frame-start=1.gif";FRAME-START=1', '"x;frame-start=1.gif"'),
])
def test_without_frame_slice_drops_only_the_slice(text: str, expected: str) -> None:
    assert without_frame_slice(text) == expected
    seed = parse_image_seed(without_frame_slice(text))
    assert seed.frame_start is None and seed.frame_end is None
