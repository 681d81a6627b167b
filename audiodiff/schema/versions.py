"""Known schema versions and how a document declares one.

Version 1 is the stable-audio-tools dialect as it is read today: a file without `schema_version` is version 1.
Later versions are explicit about every default whose meaning changed upstream; `migrate.py` moves documents
between versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic

DIALECT_VERSION = 1
KNOWN_VERSIONS = (1,)
LATEST_VERSION = KNOWN_VERSIONS[-1]


@dataclass(frozen=True)
class DetectedVersion:
    version: int | None  # None when the declaration is unusable (see diagnostic)
    declared: bool
    diagnostic: Diagnostic | None = None


def detect_version(data: dict[str, Any]) -> DetectedVersion:
    if "schema_version" not in data:
        return DetectedVersion(DIALECT_VERSION, declared=False)
    value = data["schema_version"]
    if isinstance(value, int) and not isinstance(value, bool) and value in KNOWN_VERSIONS:
        return DetectedVersion(value, declared=True)
    known = ", ".join(str(v) for v in KNOWN_VERSIONS)
    return DetectedVersion(
        None,
        declared=True,
        diagnostic=Diagnostic(
            codes.UNKNOWN_SCHEMA_VERSION,
            f"`schema_version` {value!r} is not a version this audiodiff knows",
            "/schema_version",
            help=f"known versions: {known}; newer files need a newer audiodiff",
        ),
    )
