"""Diagnostics: what every stage reports, and the collection that accumulates them.

A diagnostic carries a code from the closed table (`codes.py`), one sentence of message, the JSON pointer of the
place in the user's document it is about, and — once the source map is consulted — the file's line and column.
Stages never stop at the first problem: they add to a `DiagnosticBag` and the caller renders the lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum

from audiodiff.diagnostics.codes import Code


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Span:
    """A place in a file: 1-based line and column, with an optional end (exclusive) on the same or a later line."""

    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None


@dataclass(frozen=True, slots=True)
class Related:
    """A second place that a diagnostic relates to ("the other side" of a cross-field rule)."""

    message: str
    pointer: str | None = None
    span: Span | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: Code
    message: str
    pointer: str | None = None
    path: str | None = None
    span: Span | None = None
    help: str | None = None
    related: tuple[Related, ...] = ()
    severity: Severity | None = None  # None: the code's own severity

    @property
    def effective_severity(self) -> Severity:
        return self.severity or Severity(self.code.severity)

    @property
    def is_error(self) -> bool:
        return self.effective_severity is Severity.ERROR

    def with_location(self, path: str | None, span: Span | None) -> Diagnostic:
        return replace(self, path=path if path is not None else self.path, span=span or self.span)

    def sort_key(self) -> tuple:
        line = self.span.line if self.span else 1 << 30
        column = self.span.column if self.span else 0
        return (self.path or "", line, column, self.code.id, self.pointer or "", self.message)


@dataclass
class DiagnosticBag:
    """Accumulates diagnostics of one or more stages; sorted and de-duplicated on the way out."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def emit(
        self,
        code: Code,
        message: str,
        pointer: str | None = None,
        *,
        help: str | None = None,
        related: Iterable[Related] = (),
        severity: Severity | None = None,
    ) -> Diagnostic:
        diagnostic = Diagnostic(code, message, pointer, help=help, related=tuple(related), severity=severity)
        self.items.append(diagnostic)
        return diagnostic

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def sorted(self) -> list[Diagnostic]:
        return sort_and_dedupe(self.items)


def sort_and_dedupe(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    unique: list[Diagnostic] = []
    for diagnostic in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (diagnostic.code.id, diagnostic.pointer, diagnostic.path, diagnostic.message)
        if key not in seen:
            seen.add(key)
            unique.append(diagnostic)
    return unique


def count_by_severity(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings) of a list of diagnostics."""
    errors = warnings = 0
    for diagnostic in diagnostics:
        severity = diagnostic.effective_severity
        if severity is Severity.ERROR:
            errors += 1
        elif severity is Severity.WARNING:
            warnings += 1
    return errors, warnings
