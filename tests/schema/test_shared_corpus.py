"""Every model and dataset config shipped with stable-audio-tools validates with zero errors.

The configs live outside the repository: `$AUDIODIFF_SHARED/corpus/sat`, by default the `shared/corpus/sat` folder beside the
repo. The test skips cleanly where that folder is absent (a user's clone). Warnings are allowed (the shipped
configs name placeholder paths such as `/path/to/clap.ckpt`); errors are not. Should a shipped config ever be truly
inconsistent, the right change is an entry in KNOWN_INCONSISTENT naming the exact code and pointer, not a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_paths import CORPUS as SHARED_CORPUS
from shared_paths import SKIP_HINT

from audiodiff.compiler.pipeline import check_file

REPO = Path(__file__).resolve().parents[2]
SHARED = SHARED_CORPUS
CONFIGS = sorted(p for p in SHARED.glob("*") if p.suffix in (".json", ".yaml", ".yml")) if SHARED.is_dir() else []

# file name -> the (code, pointer) errors that file really has; none today
KNOWN_INCONSISTENT: dict[str, set[tuple[str, str]]] = {}


@pytest.mark.parametrize("path", CONFIGS or [None], ids=lambda p: p.name if p else "absent")
def test_shipped_config_validates(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no shared corpus at {SHARED} ({SKIP_HINT})")
    check = check_file(path)
    errors = {(d.code.id, d.pointer) for d in check.diagnostics if d.is_error}
    assert errors == KNOWN_INCONSISTENT.get(path.name, set()), "\n".join(
        f"{d.code.id} {d.pointer} line {d.span.line if d.span else '?'}: {d.message}"
        for d in check.diagnostics
        if d.is_error
    )
    if not errors:
        assert check.schema is not None and check.schema.ok
        if check.kind == "model":
            assert check.graph is not None, "a config without errors lowers to a graph"
    for diagnostic in check.diagnostics:  # whatever is reported is located in the file
        assert diagnostic.span is not None, f"{diagnostic.code.id} at {diagnostic.pointer} has no line"


def test_shared_corpus_holds_models_and_datasets() -> None:
    if not CONFIGS:
        pytest.skip(f"no shared corpus at {SHARED} ({SKIP_HINT})")
    kinds = {check_file(path).kind for path in CONFIGS}
    assert kinds == {"model", "dataset"}
