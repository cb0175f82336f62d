"""The docs stay true: generated pages are current, shell examples run, README commands match CI."""

from __future__ import annotations

import ast
import re
import shlex
import sys

import pytest

from dgenerate.plugin_api import hookspecs

from .support import REPO, run_dgenerate

sys.path.insert(0, str(REPO / "tools"))
import gen_hook_docs

DOCS = REPO / "docs"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block_language, body in FENCE.findall(page.read_text()):
            if block_language == language:
                found.append((str(page.relative_to(REPO)), body))
    return found


def shell_examples() -> list[tuple[str, list[str]]]:
    commands = []
    for page, body in blocks("bash"):
        for line in body.splitlines():
            if line.startswith("dgenerate "):
                commands.append((page, shlex.split(line)[1:]))
    return commands


def test_hook_reference_is_current() -> None:
    assert gen_hook_docs.main(["--check"]) == 0, "run: .venv/bin/python tools/gen_hook_docs.py"


@pytest.mark.parametrize("hook", gen_hook_docs.published_hooks(),
                         ids=lambda hook: hook.__name__)
def test_every_hook_is_documented_with_an_example(hook) -> None:
    doc = hook.__doc__ or ""
    assert "Example::" in doc and "@hookimpl" in doc and f"def {hook.__name__}(" in doc
    assert hook.__name__ in (DOCS / "plugins" / "guide.md").read_text()


def test_provisional_hooks_are_marked_and_left_out_of_the_docs() -> None:
    """Hooks nothing calls yet are not published: their docstrings say so, and neither the
    hook reference nor the guide lists them."""
    provisional = [hook for hook in gen_hook_docs.hook_functions()
                   if gen_hook_docs.is_provisional(hook)]
    assert {hook.__name__ for hook in provisional} == set()  # prompt upscalers are called now
    pages = (DOCS / "plugins" / "hooks.md").read_text() + (
        DOCS / "plugins" / "guide.md").read_text()
    for hook in provisional:
        assert "(provisional, not called yet)" in hook.__doc__.splitlines()[0]
        assert hook.__name__ not in pages


def test_hookspecs_module_exports_only_hooks() -> None:
    hooks = {name for name in vars(hookspecs) if name.startswith("dgenerate_")}
    assert hooks == {hook.__name__ for hook in gen_hook_docs.hook_functions()}


@pytest.mark.parametrize(("page", "arguments"), shell_examples(),
                         ids=lambda value: value if isinstance(value, str) else " ".join(value))
def test_shell_examples_run(page: str, arguments: list[str], tmp_path) -> None:
    if "--output-path" in arguments:  # renders land in a temporary folder, not in the repo
        where = arguments.index("--output-path") + 1
        arguments = [*arguments[:where], str(tmp_path / arguments[where]), *arguments[where + 1:]]
    result = run_dgenerate(*arguments, cwd=REPO)
    assert result.returncode == 0, f"{page}: {result.stderr}"
    assert result.stdout.strip()


@pytest.mark.parametrize(("page", "code"), blocks("python"), ids=lambda value: value[:40])
def test_python_examples_compile(page: str, code: str) -> None:
    ast.parse(code)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (REPO / "README.md").read_text()
    first_block = FENCE.match(readme)
    assert first_block is not None, "the README must start with the commands"
    commands = first_block.group(2).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].startswith("bash tools/install.sh &&")
    assert commands[1] in (REPO / ".ci" / "run").read_text()


_NEIGHBOUR = "shared"  # the folder beside the repository in development; not in a clone
_OUTSIDE = re.compile(rf"\.\./{_NEIGHBOUR}|{_NEIGHBOUR}/media|[\"']{_NEIGHBOUR}[\"']\s*/")


def test_nothing_reaches_outside_the_repository() -> None:
    """A user's clone has no neighbouring folders: tests, docs and examples use only
    files inside the repository (examples/media holds the photos and animations)."""
    offenders = []
    for folder in ("tests", "docs", "examples", "bench"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".py", ".md", ".dgen", ".toml", ".sh") and _OUTSIDE.search(
                    path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(REPO)))
    if _OUTSIDE.search((REPO / "README.md").read_text()):
        offenders.append("README.md")
    assert offenders == [], f"these files reach outside the repository: {offenders}"


def test_media_used_by_tests_and_docs_is_in_the_repository() -> None:
    media = REPO / "examples" / "media"
    expected = {"horse1.jpg", "horse1-mask.jpg", "dog-on-bench.png", "kitten.gif",
                "horse-ride.mp4"}
    assert expected <= {path.name for path in media.iterdir()}
