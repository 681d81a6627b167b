"""Imports run one way: cli -> runtime -> compiler -> nn, schema -> diagnostics. A module may import its own layer
and the layers below it, nothing above (checked on the source, including imports inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audiodiff"

# layer -> the audiodiff layers it may import (its own included)
ALLOWED = {
    "diagnostics": {"diagnostics"},
    "schema": {"schema", "diagnostics"},
    "nn": {"nn"},
    "compiler": {"compiler", "schema", "diagnostics", "nn"},
    "lint": {"lint", "compiler", "schema", "diagnostics"},
    "runtime": {"runtime", "compiler", "schema", "diagnostics", "nn"},
    "serve": {"serve", "runtime", "compiler", "schema", "diagnostics"},  # the web page: a front end like cli
    "cli": {"cli", "serve", "runtime", "compiler", "schema", "diagnostics", "nn", "lint"},
}


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] in ALLOWED)


def _imported_layers(path: Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "audiodiff" and len(parts) > 1:
                layers.add(parts[1])
    return layers


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    forbidden = _imported_layers(path) - ALLOWED[layer]
    assert not forbidden, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(forbidden)}"


def test_compiler_imports_modules_only_to_materialise() -> None:
    """The compiler is torch-free except where it builds modules (materialize, and estimate's meta cross-check)."""
    for path in (PACKAGE / "compiler").glob("*.py"):
        if "nn" in _imported_layers(path):
            assert path.name in ("materialize.py",), path.name


def test_registry_entries_import_modules_only_inside_their_builders() -> None:
    """`compiler/entries/` holds each type's builder beside its counter: `audiodiff.nn` and torch are imported inside
    the builders only, so reading the registry (validate, explain) never imports torch."""
    for path in (PACKAGE / "compiler" / "entries").glob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("torch", "audiodiff.nn")), f"{path.name} imports {name} at module level"
