"""Moving config documents between schema versions, by the declarative table of `schema/v2`, on plain data.

`migrate` never mutates the caller's data: it copies the objects along each changed path. Every change is recorded
(`Change`) with the pointer it touched, so `audiodiff migrate` can rewrite the file's text in place
(`schema/rewrite.py`), lint can warn at each migrated key, and `compile --explain` can say a value came from a
migration. `read_document` is what the pipeline calls on every file it reads: it migrates older files in memory
and checks that files of the newest version follow the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.pointer import join
from audiodiff.schema.v2 import MIGRATIONS, Migration, Path, Respell, SpellOut, Step, lookup
from audiodiff.schema.versions import KNOWN_VERSIONS, LATEST_VERSION, detect_version

# --- results ---------------------------------------------------------------------------------------------------

ChangeKind = Literal["added", "respelled", "version", "filled"]


@dataclass(frozen=True)
class Change:
    """One edit of a migration, with the pointer it touched in the migrated document."""

    kind: ChangeKind  # `filled`: a version-2 file left out a key; it is read with the old default, as an error
    pointer: str
    old: Any  # None for keys that were absent
    new: Any
    source: int  # the versions of the migration that made it
    target: int
    step: Step | None = None

    @property
    def parent(self) -> str:
        return self.pointer[: self.pointer.rfind("/")] if self.pointer.count("/") > 1 else ""

    @property
    def key(self) -> str:
        return self.pointer.rsplit("/", 1)[-1]

    @property
    def after(self) -> str | None:
        return self.step.after if isinstance(self.step, SpellOut) else None

    def provenance(self) -> str:
        """Where the value came from, in words (`compile --explain`, `lint -v`)."""
        if self.kind == "filled":
            return f"default of version {self.source} (missing from a version-{self.target} file)"
        if self.kind == "added":
            return f"migration {self.source}->{self.target} (the default of version {self.source})"
        if self.kind == "respelled":
            return f"migration {self.source}->{self.target} (was `{self.old}`)"
        return f"migration {self.source}->{self.target}"


@dataclass
class MigrationResult:
    data: dict[str, Any]
    source: int
    target: int
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def migrate(data: dict[str, Any], target: int | None = None) -> MigrationResult:
    """`data` (a model or dataset config) moved to schema version `target` (default: the newest), up or down.

    Moving a file to the version it already declares fills in what that version demands and the file lacks, so
    the result is always a well-formed document of `target`. Raises ValueError when the document's
    `schema_version` or `target` is not a known version."""
    target = LATEST_VERSION if target is None else target
    if target not in KNOWN_VERSIONS:
        raise ValueError(f"unknown schema version {target}; known: {', '.join(map(str, KNOWN_VERSIONS))}")
    detected = detect_version(data)
    if detected.version is None:
        raise ValueError(detected.diagnostic.message if detected.diagnostic else "unusable `schema_version`")
    writer = _Writer(data)
    changes = _move(writer, detected.version, target)
    if detected.version != target:
        changes.append(
            Change("version", "/schema_version", data.get("schema_version"), target, detected.version, target)
        )
        writer.set_version(target)
    return MigrationResult(writer.data, detected.version, target, changes)


def config_for_checkpoint(data: dict[str, Any]) -> dict[str, Any]:
    """The config a checkpoint embeds: `data` at the newest version, with `schema_version` written out."""
    return migrate(data, LATEST_VERSION).data


def is_current(data: dict[str, Any]) -> bool:
    """True when the document declares the newest version and needs no change to be written in it."""
    try:
        return not migrate(data, LATEST_VERSION).changed
    except ValueError:
        return False


def _move(writer: _Writer, version: int, target: int) -> list[Change]:
    changes: list[Change] = []
    if target >= version:
        # what the declared version already demands, and the file lacks
        for migration in MIGRATIONS:
            if migration.target <= version:
                changes.extend(_upgrade(writer, migration, filled_in=version))
    while version < target:
        migration = _migration(version, version + 1)
        changes.extend(_upgrade(writer, migration))
        version = migration.target
    while version > target:
        migration = _migration(version - 1, version)
        changes.extend(_downgrade(writer, migration))
        version = migration.source
    return changes


def _migration(source: int, target: int) -> Migration:
    for migration in MIGRATIONS:
        if migration.source == source and migration.target == target:
            return migration
    raise ValueError(f"no migration from version {source} to {target}")  # a gap in the table: a bug


def _upgrade(writer: _Writer, migration: Migration, *, filled_in: int | None = None) -> list[Change]:
    """Apply `migration`'s steps; with `filled_in`, the document already declares that version and each change
    repairs a lapse (kind `filled`)."""
    changes = []
    target = migration.target if filled_in is None else filled_in
    for step in migration.steps:
        if not all(condition.holds(writer.data) for condition in step.when):
            continue
        if isinstance(step, SpellOut):
            if writer.can_add(step.path):
                writer.set(step.path, step.value)
                kind: ChangeKind = "added" if filled_in is None else "filled"
                changes.append(Change(kind, _pointer(step.path), None, step.value, migration.source, target, step))
        else:
            found, value = lookup(writer.data, step.path)
            if found and value == step.old:
                writer.set(step.path, step.new)
                kind = "respelled" if filled_in is None else "filled"
                changes.append(Change(kind, _pointer(step.path), step.old, step.new, migration.source, target, step))
    return changes


def _downgrade(writer: _Writer, migration: Migration) -> list[Change]:
    changes = []
    for step in reversed(migration.steps):
        if not isinstance(step, Respell) or not all(condition.holds(writer.data) for condition in step.when):
            continue
        found, value = lookup(writer.data, step.path)
        if found and value == step.new:
            writer.set(step.path, step.old)
            changes.append(
                Change("respelled", _pointer(step.path), step.new, step.old, migration.target, migration.source, step)
            )
    return changes


# --- reading: what the pipeline does with every file ---------------------------------------------------------------


@dataclass
class ReadResult:
    """A document as every later stage sees it: migrated to the newest version.

    `diagnostics` are reported by every command (a declared version's lapses as errors, and notices about values
    whose meaning changed); `advice` only by `lint` (keys merely written out or respelled, the version bump)."""

    data: dict[str, Any] | None  # None when the version declaration is unusable
    version: int | None  # the version the file is written in
    changes: list[Change] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    advice: list[Diagnostic] = field(default_factory=list)

    def change_at(self, pointer: str) -> Change | None:
        for change in self.changes:
            if change.pointer == pointer:
                return change
        return None


def read_document(data: dict[str, Any]) -> ReadResult:
    """Detect the version of `data`, check what its version demands, and migrate it in memory to the newest."""
    detected = detect_version(data)
    if detected.version is None:
        return ReadResult(None, None, diagnostics=[detected.diagnostic] if detected.diagnostic else [])
    writer = _Writer(data)
    result = ReadResult(None, detected.version, _move(writer, detected.version, LATEST_VERSION))
    for change in result.changes:
        if change.kind == "filled":
            result.diagnostics.append(_lapse(change))
        else:
            _notice(change, result)
    if detected.version != LATEST_VERSION:
        writer.set_version(LATEST_VERSION)
        if detected.declared:
            result.changes.append(
                Change("version", "/schema_version", detected.version, LATEST_VERSION, detected.version, LATEST_VERSION)
            )
            result.advice.append(
                Diagnostic(
                    codes.MIGRATED_KEY,
                    f"schema version {detected.version} is read as version {LATEST_VERSION} after migrating it in memory",
                    "/schema_version",
                    help="`audiodiff migrate --write FILE` rewrites the file in the newest version",
                )
            )
    result.data = writer.data
    return result


def _lapse(change: Change) -> Diagnostic:
    """A file that declares a version but is not written the way that version demands: an error."""
    step = change.step
    if isinstance(step, SpellOut):
        return Diagnostic(
            codes.MISSING_KEY,
            f"schema version {change.target} writes `{step.key}` out, but it is missing here",
            change.parent,
            help=f'add `"{step.key}": {json.dumps(step.value)}` (what leaving it out meant in version {change.source})',
        )
    return Diagnostic(
        codes.INVALID_VALUE,
        f"`{change.old}` is not a schema version {change.target} spelling; it is spelled `{change.new}`",
        change.pointer,
        help=f"write `{change.new}`",
    )


def _notice(change: Change, result: ReadResult) -> None:
    step = change.step
    if step is None:
        return
    pointer = change.parent if change.kind == "added" else change.pointer
    diagnostic = Diagnostic(step.notice, step.message, pointer, help=step.help or _default_help(change))
    # AD7xx and AD9xx are advice (codes.py): lint reports them; a changed meaning (AD310) concerns every command
    if step.notice.id.startswith(("AD7", "AD9")):
        result.advice.append(diagnostic)
    else:
        result.diagnostics.append(diagnostic)


def _default_help(change: Change) -> str:
    if change.kind == "added":
        value = json.dumps(change.new)
        return f'version {change.target} writes `"{change.key}": {value}`; `audiodiff migrate --write FILE` adds it'
    return f"version {change.target} spells it `{change.new}`; `audiodiff migrate --write FILE` rewrites it"


# --- copy-on-write edits of plain data ------------------------------------------------------------------------------


class _Writer:
    """Edits a document without touching the caller's objects: each dict on a changed path is copied once."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self._own: set[int] = set()

    def _owned(self, container: dict[str, Any]) -> dict[str, Any]:
        if id(container) in self._own:
            return container
        copy = dict(container)
        self._own.add(id(copy))
        return copy

    def can_add(self, path: Path) -> bool:
        """The parent object exists and lacks the key."""
        found, parent = lookup(self.data, path[:-1])
        return found and isinstance(parent, dict) and path[-1] not in parent

    def set(self, path: Path, value: Any) -> None:
        root = self._owned(self.data)
        node = root
        for key in path[:-1]:
            child = self._owned(node[key])
            node[key] = child
            node = child
        node[path[-1]] = value
        self.data = root

    def set_version(self, version: int) -> None:
        data = self.data
        if data.get("schema_version") == version and "schema_version" in data:
            return
        rest = {key: value for key, value in data.items() if key != "schema_version"}
        root = {"schema_version": version, **rest}
        self._own.add(id(root))
        self.data = root


def _pointer(path: Iterable[str]) -> str:
    return join("", *path)
