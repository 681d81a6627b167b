"""What a spec object can say about its own settings, before any rule looks at the rest of the document.

A type that knows a quirk of its own fields (an `int` conditioner's table offset, an `fsq` bottleneck with one
codebook, a `patched` pretransform's oversampling) reports it as a `Finding` from a method on its spec class, with
pointers relative to that object; the rules place it in the document (`RuleReport.add_findings`). This keeps each
type's knowledge on its class instead of in a rule module's branch on the type tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.diagnostics.codes import Code


@dataclass(frozen=True)
class Finding:
    code: Code
    message: str
    key: str = ""  # JSON pointer relative to the object that found it ("" for the object itself)
    help: str | None = None
    related: tuple[tuple[str, str], ...] = ()  # (note, pointer relative to the same object)
