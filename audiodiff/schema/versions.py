"""Known schema versions, how a document declares one, and how a checkpoint records one.

Version 1 is the stable-audio-tools dialect as it is read today: a file without `schema_version` is version 1.
Version 2 is explicit: every default whose meaning ever changed upstream is written out and ambiguous spellings are
canonical (the table lives in `migrate.py`). Files of older versions are migrated in memory when read, so every
later stage sees the newest version; `audiodiff migrate` rewrites the files themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic

DIALECT_VERSION = 1
KNOWN_VERSIONS = (1, 2)
LATEST_VERSION = KNOWN_VERSIONS[-1]

VERSION_SUMMARIES: dict[int, str] = {
    1: "the stable-audio-tools dialect: defaults implied, upstream spellings accepted",
    2: "explicit: defaults whose meaning changed upstream are written out, spellings are canonical",
}

# safetensors metadata holds strings only; Lightning checkpoints hold the same key beside the embedded config
CHECKPOINT_VERSION_KEY = "audiodiff_schema_version"


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


def stamp_checkpoint_metadata(metadata: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of checkpoint `metadata` that records the schema version its embedded config is written in.

    `run` calls this when it saves a checkpoint; the config it embeds beside it comes from
    `migrate.config_for_checkpoint`, so both say `LATEST_VERSION`."""
    stamped = dict(metadata or {})
    stamped[CHECKPOINT_VERSION_KEY] = str(LATEST_VERSION)
    return stamped


def checkpoint_schema_version(metadata: Mapping[str, Any]) -> int | None:
    """The schema version a checkpoint recorded, or None when it recorded none (checkpoints written by
    stable-audio-tools: their embedded config is the version-1 dialect). A number outside `KNOWN_VERSIONS` is
    returned as is, so the caller can say that a newer audiodiff wrote the checkpoint."""
    value = metadata.get(CHECKPOINT_VERSION_KEY)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
