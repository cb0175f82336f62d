"""The arrows of the architecture, checked on the source code.

* plugins_builtin never imports the kernel; the kernel never imports plugins_builtin;
* plugin_api imports neither at module level;
* no module of kernel or plugin_api, and no registration module of a builtin
  plugin, imports torch, diffusers, transformers, cv2 or ultralytics at module level.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from dgenerate.kernel.plugins.sources import entry_point_sources
from dgenerate.plugin_api.testing import HEAVY_MODULES

from .support import REPO

FOLDERS = {"kernel": "dgenerate.kernel", "plugin_api": "dgenerate.plugin_api",
           "plugins_builtin": "dgenerate.plugins_builtin"}


def module_name(path: Path) -> str:
    folder = path.relative_to(REPO).parts[0]
    parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[folder], *parts])


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(source: str, module: str, *, module_level_only: bool) -> Iterator[str]:
    """Absolute names imported by ``source`` (the code of ``module``)."""
    package = (module.removesuffix(".__init__") if module.endswith(".__init__")
               else module.rpartition(".")[0])

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join(filter(None, [*base, node.module or ""]))

    def walk(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = absolute(node)
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if not module_level_only:
                    yield from walk(node.body)
            elif isinstance(node, ast.ClassDef):
                yield from walk(node.body)  # class bodies run at import time
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        yield from walk([child for child in children
                                         if isinstance(child, (ast.stmt, ast.excepthandler))])

    tree = ast.parse(source)
    yield from walk(tree.body)


def sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def violations(folder: str, forbidden: tuple[str, ...], *, module_level_only: bool) -> list[str]:
    found = []
    for path in sources(folder):
        name = module_name(path)
        if path.name == "__init__.py":
            name += ".__init__"
        for imported in imports(path.read_text(), name, module_level_only=module_level_only):
            if any(imported == bad or imported.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(REPO)} imports {imported}")
    return found


def test_the_scanner_sees_imports() -> None:
    code = ("import os\nfrom . import sibling\nfrom ..kernel import x\n"
            "if TYPE_CHECKING:\n    import torch\n"
            "try:\n    import cv2\nexcept ImportError:\n    pass\n"
            "def later():\n    import diffusers\n")
    module = "dgenerate.plugin_api.sub.mod"
    top = set(imports(code, module, module_level_only=True))
    assert {"os", "dgenerate.plugin_api.sub", "dgenerate.plugin_api.kernel.x", "cv2"} <= top
    assert "torch" not in top and "diffusers" not in top
    assert "diffusers" in set(imports(code, module, module_level_only=False))
    package_init = set(imports("from .impl import X\n", "dgenerate.plugins_builtin.p.__init__",
                               module_level_only=True))
    assert "dgenerate.plugins_builtin.p.impl.X" in package_init


def test_plugins_builtin_never_import_the_kernel() -> None:
    assert violations("plugins_builtin", ("dgenerate.kernel",), module_level_only=False) == []


def test_kernel_never_imports_plugins_builtin() -> None:
    assert violations("kernel", ("dgenerate.plugins_builtin",), module_level_only=False) == []


def test_plugin_api_imports_neither_at_module_level() -> None:
    assert violations("plugin_api", ("dgenerate.kernel", "dgenerate.plugins_builtin"),
                      module_level_only=True) == []


@pytest.mark.parametrize("folder", ["kernel", "plugin_api"])
def test_no_heavy_module_level_imports(folder: str) -> None:
    assert violations(folder, HEAVY_MODULES, module_level_only=True) == []


def test_registration_modules_import_nothing_heavy() -> None:
    found = []
    for source in entry_point_sources():
        relative = source.value.removeprefix("dgenerate.plugins_builtin.").replace(".", "/")
        path = REPO / "plugins_builtin" / f"{relative}.py"
        if not path.exists():
            path = REPO / "plugins_builtin" / relative / "__init__.py"
        for imported in imports(path.read_text(), source.value, module_level_only=True):
            if imported.split(".")[0] in HEAVY_MODULES:
                found.append(f"{source.name}: {imported}")
    assert found == []


# the kernel's boxes, top layer first: a box imports only boxes of lower layers (or of its
# own layer when that creates no cycle, checked below)
KERNEL_LAYERS = (("cli",), ("config", "render"), ("plugins",),
                 ("cache", "uri", "imageseed", "media", "version"))


def _box(module: str, root: str, depth: int = 1) -> str | None:
    if not module.startswith(root + "."):
        return None
    return ".".join(module[len(root) + 1:].split(".")[:depth]) or None


def box_edges(folder: str, root: str, box_of) -> set[tuple[str, str]]:
    edges = set()
    for path in sources(folder):
        name = module_name(path)
        if path.name == "__init__.py":
            name += ".__init__"
        source_box = box_of(name)
        for imported in imports(path.read_text(), name, module_level_only=False):
            target_box = box_of(imported)
            if source_box and target_box and target_box != source_box:
                edges.add((source_box, target_box))
    return edges


def _cycles(edges: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Edges that lie on a cycle."""
    reach: dict[str, set[str]] = {}
    nodes = {node for edge in edges for node in edge}
    for node in nodes:
        seen, todo = set(), [node]
        while todo:
            current = todo.pop()
            for source, target in edges:
                if source == current and target not in seen:
                    seen.add(target)
                    todo.append(target)
        reach[node] = seen
    return sorted((a, b) for a, b in edges if a in reach.get(b, set()))


def test_kernel_boxes_are_layered_without_cycles() -> None:
    layer = {box: index for index, boxes in enumerate(KERNEL_LAYERS) for box in boxes}
    edges = box_edges("kernel", "dgenerate.kernel", lambda m: _box(m, "dgenerate.kernel"))
    assert ("cli", "render") in edges and ("render", "plugins") in edges  # the scan sees them
    unknown = {box for edge in edges for box in edge} - set(layer)
    assert not unknown, f"kernel boxes missing from KERNEL_LAYERS: {unknown}"
    upward = sorted((a, b) for a, b in edges if layer[b] < layer[a])
    assert upward == [], "lower boxes import higher ones"
    assert _cycles(edges) == []


def _plugin_folder(module: str) -> str | None:
    """The builtin plugin a module belongs to (model types: one per family folder)."""
    box = _box(module, "dgenerate.plugins_builtin", depth=2)
    if box is None:
        return None
    first = box.split(".")[0]
    if first in ("model_types", "job_executors", "pipeline_extensions", "prompt_weighters"):
        return box if "." in box else None
    return first


def test_builtin_plugins_do_not_import_each_other() -> None:
    """Each builtin plugin stands on plugin_api alone, as a third-party one must."""
    edges = box_edges("plugins_builtin", "dgenerate.plugins_builtin", _plugin_folder)
    assert sorted(edges) == []
