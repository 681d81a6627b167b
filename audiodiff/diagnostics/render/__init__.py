"""Renderers: the same facts in every format. One module per format; each takes a list of `FileResult`s.

A `FileResult` is what a command found in one file: its diagnostics (already located) and a way to read the
file's lines for snippets. Rendering never reads files itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from audiodiff.diagnostics.model import Diagnostic, count_by_severity, sort_and_dedupe


@dataclass(frozen=True)
class FileResult:
    path: str
    diagnostics: Sequence[Diagnostic]
    line: Callable[[int], str | None] = field(default=lambda number: None, compare=False, repr=False)
    kind: str | None = None  # "model", "dataset", or None when unknown

    @property
    def valid(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        return sort_and_dedupe(self.diagnostics)


def totals(results: Sequence[FileResult]) -> tuple[int, int]:
    errors = warnings = 0
    for result in results:
        file_errors, file_warnings = count_by_severity(result.sorted())
        errors += file_errors
        warnings += file_warnings
    return errors, warnings


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
