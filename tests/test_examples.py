"""Every example in examples/writing_plugins validates and does what its docs say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.kernel.plugins.context import KernelContext
from dgenerate.kernel.plugins.targets import resolve_target
from dgenerate.plugin_api import Category, Prompt
from dgenerate.plugin_api.errors import DgenerateError, PluginArgumentError
from dgenerate.plugin_api.testing import isolated_plugin_manager, validate_plugin

from .support import EXAMPLES

EXAMPLE_PLUGINS = {
    "image_processor": ["sepia"],
    "sub_command/image_info.py": ["image-info"],
    "template_function/text_functions.py": ["pluralize", "title_words"],
    "config_directive": ["repeat"],
    "latents_processor": ["multiply"],
    "prompt_upscaler": ["add-style"],
    "cli_option/greeting.py": [],  # behaviour hooks only
}


@pytest.mark.parametrize(("path", "names"), sorted(EXAMPLE_PLUGINS.items()))
def test_example_validates(path: str, names: list[str]) -> None:
    specs = validate_plugin(str(EXAMPLES / path))
    assert sorted(spec.name for spec in specs) == sorted(names)


def test_every_example_is_tested_and_listed_in_the_readme() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for entry in sorted(EXAMPLES.iterdir()):
        if entry.name == "README.md":
            continue
        assert f"`{entry.name}" in readme, entry.name
        assert any(key.startswith(entry.name)
                   for key in [*EXAMPLE_PLUGINS, "pip_package"])


def test_installed_package_validates(installed_plugins: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed_plugins))
    specs = validate_plugin("dgenerate_pixelate.register")
    assert [spec.name for spec in specs] == ["pixelate"]


def context_with(*plugins: str) -> KernelContext:
    manager = isolated_plugin_manager(plugins=[str(EXAMPLES / plugin) for plugin in plugins])
    return KernelContext(manager)


def test_sepia(media: Path) -> None:
    context = context_with("image_processor")
    with Image.open(media / "horse1.jpg") as image:
        horse = image.convert("RGB")
    tinted = np.asarray(context.create(Category.IMAGE_PROCESSOR, "sepia")(horse)).astype(int)
    assert (tinted[..., 0] >= tinted[..., 2]).mean() > 0.99  # warm: red over blue everywhere
    half = context.create(Category.IMAGE_PROCESSOR, "sepia;strength=0")(horse)
    assert np.array_equal(np.asarray(half), np.asarray(horse))
    with pytest.raises(PluginArgumentError, match="strength 2.0 must be between 0 and 1"):
        context.create(Category.IMAGE_PROCESSOR, "sepia;strength=2")


def test_pixelate_blocks(installed_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed_plugins))
    context = KernelContext(isolated_plugin_manager(plugins=["dgenerate_pixelate.register"]))
    image = Image.fromarray(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3))
    result = np.asarray(context.create(Category.IMAGE_PROCESSOR, "pixelate;block=4")(image))
    assert result.shape == (16, 16, 3)
    assert all(len(np.unique(result[y:y + 4, x:x + 4].reshape(-1, 3), axis=0)) == 1
               for y in range(0, 16, 4) for x in range(0, 16, 4))


def test_template_functions() -> None:
    registry = context_with("template_function/text_functions.py").manager.registry(
        Category.TEMPLATE_FUNCTION)
    pluralize = resolve_target(registry.get("pluralize"))
    assert [pluralize("cat"), pluralize("box"), pluralize("cat", 1)] == ["cats", "boxes", "cat"]
    assert resolve_target(registry.get("title_words"))("a red  cat") == "A Red Cat"


def test_directive(capsys: pytest.CaptureFixture[str]) -> None:
    context = context_with("config_directive")
    repeat = resolve_target(context.manager.registry(Category.DIRECTIVE).get("\\repeat"))
    assert repeat(context, ["2", "hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\nhello world\n"
    with pytest.raises(DgenerateError, match="usage is"):
        repeat(context, ["x"])


def test_latents_processor() -> None:
    import torch

    context = context_with("latents_processor")
    multiply = context.create(Category.LATENTS_PROCESSOR, "multiply;factor=2.5", device="cpu")
    latents = torch.ones(1, 4, 8, 8)
    assert torch.equal(multiply(latents), latents * 2.5)
    assert multiply.device == "cpu" and not multiply.model_offload


def test_prompt_upscaler() -> None:
    context = context_with("prompt_upscaler")
    upscaler = context.create(Category.PROMPT_UPSCALER,
                              'add-style;styles="watercolor,oil painting"')
    assert upscaler.upscale([Prompt("a cat", "blurry")]) == [
        Prompt("a cat, watercolor", "blurry"), Prompt("a cat, oil painting", "blurry")]
    default = context.create(Category.PROMPT_UPSCALER, "add-style")
    assert default.upscale([Prompt("a dog")]) == [Prompt("a dog, highly detailed")]
