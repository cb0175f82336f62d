"""The kernel stays small: everything else is a plugin or the plugin API's toolkit.

Counted: lines holding code, not blank lines, comments or docstrings (docstrings
are documentation, and the kernel should keep explaining itself).
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from .support import REPO

#: the budget the project set itself (issue #12)
MAX_KERNEL_CODE_LINES = 5000
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}


def code_lines(source: str) -> int:
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _SKIPPED:
            lines.update(line for line in range(token.start[0], token.end[0] + 1)
                         if line not in docstrings)
    return len(lines)


def test_the_counter_skips_comments_and_docstrings() -> None:
    source = '"""Doc."""\n\n# comment\ndef f():\n    """Doc\n    more."""\n    return 1\n'
    assert code_lines(source) == 2


def test_kernel_stays_under_its_code_line_budget() -> None:
    counts = {path: code_lines(path.read_text()) for path in (REPO / "kernel").rglob("*.py")}
    total = sum(counts.values())
    largest = sorted(counts.items(), key=lambda item: -item[1])[:5]
    assert total < MAX_KERNEL_CODE_LINES, (
        f"the kernel has {total} code lines (budget {MAX_KERNEL_CODE_LINES}); largest: "
        + ", ".join(f"{Path(path).relative_to(REPO)} {count}" for path, count in largest))
