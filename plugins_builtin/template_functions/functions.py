"""The template functions themselves."""

from __future__ import annotations

import importlib
import math
import os
import platform as platform_module
import random
from collections.abc import Iterable
from typing import Any

from dgenerate.plugin_api import DgenerateError, DirectiveContext, Prompt
from dgenerate.plugin_api.values import format_size as _format_size
from dgenerate.plugin_api.values import parse_size

_SPECIAL = set(" \t\n\"'\\$%#;|&<>(){}*?[]~")


def import_module(module_name: str) -> Any:
    """Import a Python module by name and return the module object.

    An import failure is an error. See also the directive \\import.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise DgenerateError(f"import_module: cannot import {module_name!r}: {error}") from None


def _quote_one(value: Any, double: bool, quotes: bool) -> str:
    text = str(value)
    if not quotes:
        return "".join("\\" + char if char in "\"'$%" else char for char in text)
    if text and not any(char in _SPECIAL for char in text):
        return text
    quote_char = '"' if double else "'"
    escaped = text.replace("\\", "\\\\").replace(quote_char, "\\" + quote_char)
    if double:
        escaped = escaped.replace("$", "\\$").replace("%", "\\%")
    return f"{quote_char}{escaped}{quote_char}"


def quote(strings: str | Iterable[Any], double: bool = False, quotes: bool = True) -> str:
    """Shell-quote a string, or each item of an iterable (joined by spaces).

    The result reads back as the same text when dgenerate shell-parses it.
    "double" uses double quotes instead of single ones; with "quotes" false
    only escapes are added, for splicing into an existing string.
    """
    if isinstance(strings, (str, Prompt)) or not isinstance(strings, Iterable):
        return _quote_one(strings, double, quotes)
    return " ".join(_quote_one(item, double, quotes) for item in strings)


def unquote(context: DirectiveContext, strings: str | Iterable[Any], expand: bool = False,
            glob_hidden: bool = False, glob_recursive: bool = False) -> list:
    """Shell-parse a string (or each string of an iterable) into a list of tokens.

    With "expand", globs and ~ are expanded as on a command line
    (unquote('../media/*.png', expand=True)); paths come back with / separators.
    "glob_hidden" and "glob_recursive" are accepted for compatibility: hidden
    files follow the shell's rules, and ** always matches recursively.
    """
    items = [strings] if isinstance(strings, str) else list(strings)
    tokens: list[str] = []
    for item in items:
        tokens.extend(context.shell_parse(str(item), expand_globs=expand))
    return tokens


def format_prompt(prompts: Prompt | Iterable[Prompt]) -> str:
    """Format a prompt object, or several, as quoted "positive; negative" text."""
    if isinstance(prompts, Prompt):
        return quote(str(prompts))
    return " ".join(quote(str(prompt)) for prompt in prompts)


def format_size(size: Iterable[int]) -> str:
    """Join the dimensions with x: (512, 512) -> 512x512."""
    return _format_size(size)


def _size(size: str | tuple, what: str) -> tuple[int, int]:
    if isinstance(size, str):
        return tuple(parse_size(size, what=what))  # type: ignore[return-value]
    values = tuple(int(value) for value in size)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise DgenerateError(f"{what}: {size!r} is not a (width, height) pair")
    return values  # type: ignore[return-value]


def align_size(size: str | tuple, align: int, format_size: bool = True) -> str | tuple:
    """Round a size such as "700x700" or (700, 700) down to a multiple of "align".

    Returns a WIDTHxHEIGHT string, or a tuple when "format_size" is false.
    """
    width, height = _size(size, "align_size")
    aligned = (max(align, width // align * align), max(align, height // align * align))
    return _format_size(aligned) if format_size else aligned


def _nearest_pow2(value: int) -> int:
    lower = 2 ** max(0, math.floor(math.log2(max(1, value))))
    return lower * 2 if value - lower > lower * 2 - value else lower


def pow2_size(size: str | tuple, format_size: bool = True) -> str | tuple:
    """Round each dimension of a size to the nearest power of 2."""
    width, height = _size(size, "pow2_size")
    rounded = (_nearest_pow2(width), _nearest_pow2(height))
    return _format_size(rounded) if format_size else rounded


def image_size(file: str, format_size: bool = True) -> str | tuple[int, int]:
    """The width and height of an image file: "WxH", or a tuple when "format_size" is false."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            size = image.size
    except (OSError, UnidentifiedImageError) as error:
        raise DgenerateError(f"image_size: cannot read {file!r}: {error}") from None
    return _format_size(size) if format_size else size


def size_is_aligned(size: str | tuple, align: int) -> bool:
    """Whether both dimensions of a size are multiples of "align"."""
    width, height = _size(size, "size_is_aligned")
    return width % align == 0 and height % align == 0


def size_is_pow2(size: str | tuple) -> bool:
    """Whether both dimensions of a size are powers of 2."""
    width, height = _size(size, "size_is_pow2")
    return all(value > 0 and value & (value - 1) == 0 for value in (width, height))


def format_model_type(model_type: Any) -> str:
    """The --model-type text of a model type value (last_model_type)."""
    return str(getattr(model_type, "value", model_type))


def format_dtype(dtype: Any) -> str:
    """The --dtype text of a dtype value (last_dtype)."""
    return str(getattr(dtype, "value", dtype)).removeprefix("torch.")


def last(iterable: Iterable[Any]) -> Any:
    """The last item of an iterable."""
    items = list(iterable)
    if not items:
        raise DgenerateError("last: the iterable is empty")
    return items[-1]


def first(iterable: Iterable[Any]) -> Any:
    """The first item of an iterable."""
    for item in iterable:
        return item
    raise DgenerateError("first: the iterable is empty")


def gen_seeds(n: int) -> list[str]:
    """N random seeds, as strings."""
    generator = random.SystemRandom()
    return [str(generator.randint(0, 99_999_999_999_999)) for _ in range(int(n))]


def cwd() -> str:
    """The current working directory."""
    return os.getcwd()


def download(context: DirectiveContext, url: str, output: str | None = None,
             overwrite: bool = False, text: bool = False) -> str:
    """Download a URL like the \\download directive and return the file's path.

    Without "output" the file goes to the web cache; "output" may be a file or
    a folder ending with /. Existing files are reused unless "overwrite"; text
    content is refused unless "text".
    """
    return context.download(url, output, overwrite=overwrite, text=text)


_FEATURES = {"ncnn": "ncnn", "gpt4all": "gpt4all", "bitsandbytes": "bitsandbytes",
             "flash-attn": "flash_attn", "xformers": "xformers", "triton": "triton"}


def have_feature(feature_name: str) -> bool:
    """Whether an optional feature is installed: ncnn, gpt4all, bitsandbytes, flash-attn,
    xformers or triton."""
    module = _FEATURES.get(feature_name)
    if module is None:
        raise DgenerateError(f"have_feature: unknown feature {feature_name!r}; known: "
                             f"{', '.join(_FEATURES)}")
    return importlib.util.find_spec(module) is not None


def platform() -> str:
    """The operating system name: Linux, Darwin, Windows ('' if unknown)."""
    return platform_module.system()


def frange(start: float, stop: float | None = None, step: float = 0.1) -> list[float]:
    """Like range() for floats: frange(stop) starts at 0; the stop is excluded."""
    if stop is None:
        start, stop = 0.0, start
    if step == 0:
        raise DgenerateError("frange: step must not be 0")
    count = max(0, math.ceil((stop - start) / step - 1e-9))
    return [round(start + index * step, 12) for index in range(count)]


def have_cuda() -> bool:
    """Whether a CUDA GPU is available."""
    import torch

    return torch.cuda.is_available()


def have_xpu() -> bool:
    """Whether an Intel XPU is available."""
    import torch

    return hasattr(torch, "xpu") and torch.xpu.is_available()


def have_mps() -> bool:
    """Whether Apple's MPS is available."""
    import torch

    return torch.backends.mps.is_available()


_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3}


def total_memory(device: str | None = None, unit: str = "b") -> float:
    """Total memory of a device in "unit" (b, kb, mb, gb, kib, mib, gib; any case).

    The default device is the default accelerator, or the system memory when
    there is none; mps reports 0.
    """
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise DgenerateError(f"total_memory: unknown unit {unit!r}; use one of "
                             f"{', '.join(_UNITS)}")
    device = device or default_device()
    kind, _, index = device.partition(":")
    if kind == "cuda":
        import torch

        total = torch.cuda.get_device_properties(int(index or 0)).total_memory
    elif kind == "xpu":
        import torch

        total = torch.xpu.get_device_properties(int(index or 0)).total_memory
    elif kind == "mps":
        total = 0
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return total / factor


def default_device() -> str:
    """The device dgenerate renders on when --device is not given."""
    if have_cuda():
        return "cuda"
    if have_xpu():
        return "xpu"
    if have_mps():
        return "mps"
    return "cpu"


def csv(iterable: Iterable[Any]) -> str:
    """Join the items with commas: csv([1.0, 0.5]) -> "1.0,0.5"."""
    return ",".join(str(item) for item in iterable)
