"""Where the shared fixtures are: `../shared` beside the repository (not part of a user's clone), or wherever the
environment says. Tests that read them skip cleanly when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared"
GOLDEN = Path(os.environ.get("AUDIODIFF_GOLDEN", SHARED / "golden"))
CORPUS = Path(os.environ.get("AUDIODIFF_CORPUS", SHARED / "corpus" / "sat"))
