"""Diagnostics: what every stage reports.

A diagnostic carries a code from the closed table (`codes.py`), one sentence of message, the JSON pointer of the
place in the user's document it is about, and — once the source map is consulted — the file's line and column.
Stages never stop at the first problem: each returns every diagnostic it found, and the caller renders the lot
(sorted and de-duplicated here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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

    def sort_key(self) -> tuple:
        line = self.span.line if self.span else 1 << 30
        column = self.span.column if self.span else 0
        return (self.path or "", line, column, self.code.id, self.pointer or "", self.message)


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
