"""The closed table of everything a config can build: (kind, type tag) -> its `Entry` (spec class, builder,
parameter counter, lowering, capability record; see `compiler/entry.py`).

Config text never names a Python object. A tag either has an entry here or is rejected by the schema; a test
asserts the bijection between the members of the schema's tagged unions and these entries, and `check_entry`
names any piece an entry lacks. The entries themselves live beside their builders and counters, one module per
family, in `compiler/entries/`. Entries that the schema accepts but audiodiff cannot build say why, and `compile`
reports it (`validate` does not).
"""

from __future__ import annotations

from audiodiff.compiler.entries import (
    autoencoder_training,
    backbones,
    codecs,
    conditioners,
    training,
)
from audiodiff.compiler.entry import Entry, RegistryError, Status

__all__ = [
    "KINDS",
    "REGISTRY",
    "Entry",
    "RegistryError",
    "Status",
    "backbone_entry_for",
    "check_entry",
    "lookup",
    "register",
    "tags",
]

_ENTRIES: list[Entry] = [
    *backbones.ENTRIES,
    *conditioners.ENTRIES,
    *codecs.ENTRIES,
    *training.ENTRIES,
    *autoencoder_training.ENTRIES,
]

REGISTRY: dict[tuple[str, str], Entry] = {}


def check_entry(entry: Entry) -> None:
    """Raises `RegistryError` naming the entry and every piece it lacks (builder, counter, lowering, capability
    record), or a duplicate (kind, tag)."""
    missing = entry.missing_pieces()
    if missing:
        raise RegistryError(f"{entry.kind} `{entry.tag}` is missing its " + ", ".join(missing))
    if (entry.kind, entry.tag) in REGISTRY and REGISTRY[(entry.kind, entry.tag)] is not entry:
        raise RegistryError(f"{entry.kind} `{entry.tag}` is registered twice")


def register(entry: Entry) -> Entry:
    """Adds an entry after checking it is complete (extensions and tests; the shipped entries are added below)."""
    check_entry(entry)
    REGISTRY[(entry.kind, entry.tag)] = entry
    return entry


def unregister(kind: str, tag: str) -> None:
    REGISTRY.pop((kind, tag), None)


for _entry in _ENTRIES:
    register(_entry)

KINDS = tuple(dict.fromkeys(entry.kind for entry in _ENTRIES))


def lookup(kind: str, tag: str) -> Entry:
    return REGISTRY[(kind, tag)]


def tags(kind: str) -> list[str]:
    return [entry.tag for entry in REGISTRY.values() if entry.kind == kind]


def backbone_entry_for(config: object) -> Entry:
    """The backbone entry whose spec's `config` is of `config`'s class (the counters of a bare config)."""
    for entry in REGISTRY.values():
        if entry.kind in ("backbone", "uncond_backbone"):
            field = entry.spec.model_fields.get("config")  # type: ignore[attr-defined]
            if field is not None and field.annotation is type(config):
                return entry
    raise RegistryError(f"no backbone entry takes a `{type(config).__name__}` config")
