from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def shared_reference_python() -> str | None:
    """The reference environment's interpreter when one is set up (bench/reference.py decides)."""
    sys.path.insert(0, str(BENCH))
    try:
        import reference
    finally:
        sys.path.remove(str(BENCH))
    found = reference.reference_python()
    return str(found) if found is not None else None
