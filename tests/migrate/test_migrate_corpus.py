"""Every stable-audio-tools config (and every valid corpus config) migrates to the newest version as text, still
validates, and compiles to the same graph and parameter counts; migrating back down does too.

The stable-audio-tools configs live in the shared folder beside the repository (`$AUDIODIFF_SHARED/corpus/sat`, default
`../shared/corpus/sat`); without it those cases skip.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
from shared_paths import CORPUS as SHARED_CORPUS

from audiodiff.compiler.pipeline import FileCheck, check_file, check_text
from audiodiff.schema.migrate import migrate
from audiodiff.schema.rewrite import rewritten_text
from audiodiff.schema.versions import LATEST_VERSION

REPO = Path(__file__).resolve().parents[2]
SAT = SHARED_CORPUS
LOCAL = REPO / "tests" / "corpus" / "valid"


def _configs() -> list[Path]:
    found = sorted(SAT.glob("*.json")) if SAT.is_dir() else []
    found += sorted(p for p in LOCAL.glob("*") if p.suffix in (".json", ".yaml", ".yml")) if LOCAL.is_dir() else []
    return found


def _without_origins(value: Any) -> Any:
    """A graph's JSON without where things came from (`origin` pointers, `line` numbers)."""
    if isinstance(value, dict):
        return {k: _without_origins(v) for k, v in value.items() if k not in ("origin", "line")}
    if isinstance(value, list):
        return [_without_origins(v) for v in value]
    return value


def _errors(check: FileCheck) -> set[tuple[str, str | None]]:
    return {(d.code.id, d.pointer) for d in check.diagnostics if d.is_error}


def _assert_same_model(before: FileCheck, after: FileCheck) -> None:
    assert _errors(after) == _errors(before)
    assert after.kind == before.kind
    if before.graph is None:
        assert after.graph is None
        return
    assert after.graph.total_params == before.graph.total_params
    assert [(n.id, n.params) for n in after.graph.nodes] == [(n.id, n.params) for n in before.graph.nodes]
    assert _without_origins(after.graph.to_json()) == _without_origins(before.graph.to_json())


@pytest.mark.skipif(not _configs(), reason="no corpus configs found")
@pytest.mark.parametrize("path", _configs(), ids=lambda p: p.name)
def test_migrates_to_the_newest_version_and_back(path: Path):
    original = check_file(path, check_paths=False)
    assert original.document is not None
    result = migrate(original.document.data)
    assert result.target == LATEST_VERSION and result.changed

    upgraded_text = rewritten_text(original.document, result.changes, result.data)
    upgraded = check_text(upgraded_text, path.name, advice=True)
    assert upgraded.schema.version == LATEST_VERSION
    assert not [d for d in upgraded.diagnostics if d.code.id in ("AD310", "AD702", "AD901")]  # nothing left to do
    assert not upgraded.migration.changes
    _assert_same_model(original, upgraded)
    if not _errors(original):
        assert original.kind == "dataset" or upgraded.graph is not None

    down = migrate(upgraded.document.data, 1)
    downgraded_text = rewritten_text(upgraded.document, down.changes, down.data)
    downgraded = check_text(downgraded_text, path.name)
    assert downgraded.schema.version == 1
    _assert_same_model(original, downgraded)
    _assert_only_migrated_lines_changed(original.document.text, upgraded_text, result.changes)


def _assert_only_migrated_lines_changed(before: str, after: str, changes) -> None:
    """Lines are added; an existing line only gains a `,` (a member now follows it) or has a respelled value."""
    removed, added = [], set()
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:])
        elif line.startswith("+") and not line.startswith("+++"):
            added.add(line[1:])
    old_values = [str(change.old) for change in changes if change.old is not None]
    for line in removed:
        assert line + "," in added or any(value in line for value in old_values), line
