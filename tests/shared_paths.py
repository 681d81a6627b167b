"""Where the shared fixtures are: `../shared` beside the repository (not part of a user's clone), or the folder
that the one environment variable `AUDIODIFF_SHARED` names. Tests that read them skip cleanly when they are absent;
every test finds them through this module.

    AUDIODIFF_SHARED/golden       reference numerics from stable-audio-tools (tests/test_golden.py and others)
    AUDIODIFF_SHARED/corpus/sat   the stable-audio-tools configs (validate, migrate, explain and parameter counts)
"""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
ENVIRONMENT_VARIABLE = "AUDIODIFF_SHARED"
SHARED = Path(os.environ.get(ENVIRONMENT_VARIABLE, REPOSITORY.parent / "shared"))
GOLDEN = SHARED / "golden"
CORPUS = SHARED / "corpus" / "sat"
SKIP_HINT = f"set {ENVIRONMENT_VARIABLE} to the folder holding golden/ and corpus/sat"
