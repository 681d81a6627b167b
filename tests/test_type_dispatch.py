"""Nothing outside the registry switches on a type tag (issue 11): what a type does is asked of its spec class, its
registry entry or its capability record, never decided by `if x.type == "..."` in the code that uses it.

The count the issue tracks is `grep -rnE "\\.type ==|\\.type in |\\.type !=|\\.type not in" audiodiff --include=*.py`
outside `compiler/entries/` and `compiler/registry.py`; this test runs that grep and, on the syntax tree, also
catches the comparisons a line-based grep misses (a comparison split over lines, `x.type` on the right).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "audiodiff"
# The registry is where type tags map to behaviour; it alone may compare them.
REGISTRY = ("compiler/entries/", "compiler/registry.py")
GREP = re.compile(r"\.type ==|\.type in |\.type !=|\.type not in")
_TAG_COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(path.relative_to(PACKAGE).as_posix().startswith(place) for place in REGISTRY)
    )


def _where(path: Path, line: int, text: str) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{line}: {text.strip()}"


def test_the_issue_grep_finds_no_type_tag_dispatch_outside_the_registry() -> None:
    found = [
        _where(path, number, line)
        for path in _modules()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if GREP.search(line)
    ]
    assert not found, "type-tag dispatch outside the registry (ask the spec class or the entry):\n" + "\n".join(found)


def _compares_a_type_tag(node: ast.Compare) -> bool:
    if not any(isinstance(op, _TAG_COMPARISONS) for op in node.ops):
        return False
    return any(
        isinstance(operand, ast.Attribute) and operand.attr == "type" for operand in (node.left, *node.comparators)
    )


def test_no_comparison_reads_a_type_attribute_outside_the_registry() -> None:
    found = []
    for path in _modules():
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Compare) and _compares_a_type_tag(node):
                found.append(_where(path, node.lineno, ast.get_source_segment(source, node) or ""))
    assert not found, "type-tag comparisons outside the registry:\n" + "\n".join(found)


def test_the_guard_sees_a_dispatch_site(tmp_path: Path) -> None:
    """The two detectors above find what they look for (so a passing run means there is none)."""
    source = 'if entry.type == "t5":\n    pass\nok = (\n    stage.type\n    in ("oobleck", "taae")\n)\n'
    tree = ast.parse(source)
    compares = [node for node in ast.walk(tree) if isinstance(node, ast.Compare)]
    assert [_compares_a_type_tag(node) for node in compares] == [True, True]
    assert [bool(GREP.search(line)) for line in source.splitlines()] == [True, False, False, False, False, False]
    assert not _compares_a_type_tag(ast.parse('node.kind == "pretransform"').body[0].value)  # type: ignore[attr-defined]
