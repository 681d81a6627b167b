"""How the runtime and CLI modules use each other: only public names cross a module boundary, and facts about a
config (its diffusion objective) are asked of `audiodiff.schema.views`, not re-derived in each module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "audiodiff"
LAYERS = ("runtime", "cli")


def _modules() -> list[Path]:
    return sorted(path for layer in LAYERS for path in (PACKAGE / layer).glob("*.py"))


def test_no_module_imports_another_modules_private_names():
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audiodiff"):
                private = [
                    alias.name for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
                if private:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {private} from {node.module}")
    assert not found, "\n".join(found)


def test_the_objective_is_read_through_the_schema_view():
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # `spec.model.diffusion.diffusion_objective` is wrong for unconditioned models: `diffusion_objective_of`
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "diffusion_objective"
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "diffusion"
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found
