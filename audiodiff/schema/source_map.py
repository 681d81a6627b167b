"""Where each value of a config file sits: JSON pointer -> key and value spans, and offset -> line:column.

Lines and columns are 1-based; a column counts characters (code points), not bytes; a tab is one column. The readers
in `source_json.py` and `source_yaml.py` fill a `SourceMap`; `source.py` re-exports these names.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from audiodiff.diagnostics.model import Span

# JSON whitespace knows only CR and LF; YAML 1.1 (libyaml) also breaks lines at NEL, LS and PS.
JSON_LINE_BREAK = re.compile(r"\r\n|\r|\n")
YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Position:
    """The spans of one document member: its key (None for list items and the root) and its value."""

    key: Span | None
    value: Span


class SourceMap(Mapping[str, Position]):
    """Positions for every JSON pointer of a document (`""` is the root); read-only."""

    __slots__ = ("_positions",)

    def __init__(self, positions: dict[str, Position] | None = None) -> None:
        self._positions = positions if positions is not None else {}

    def get(self, pointer: str, default: Position | None = None) -> Position | None:  # type: ignore[override]
        return self._positions.get(pointer, default)

    def __getitem__(self, pointer: str) -> Position:
        return self._positions[pointer]

    def __contains__(self, pointer: object) -> bool:
        return pointer in self._positions

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)

    def __repr__(self) -> str:
        return f"SourceMap({len(self._positions)} pointers)"


class LineIndex:
    """Character offset -> (line, column) by binary search over the offsets where lines start."""

    __slots__ = ("starts",)

    def __init__(self, text: str, line_break: re.Pattern[str] = JSON_LINE_BREAK) -> None:
        self.starts = [0]
        self.starts.extend(match.end() for match in line_break.finditer(text))

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(line, column, end_line, end_column)


def mark_span(start: Any, end: Any) -> Span:
    """A span from two PyYAML / libyaml marks (0-based line and column, end exclusive)."""
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def describe_kind(value: Any) -> str:
    """`an object`, `a list`, `a string`... for messages about a value's JSON kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a `{type(value).__name__}`"
