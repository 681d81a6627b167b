"""Apply a migration's changes to a config file's text, keeping everything else byte for byte: key order,
indentation, comments, quoting, line endings.

Edits are computed from the source map of the original text: replacing a scalar rewrites its span (in the same
quoting style); adding a key inserts one member after a sibling (or after the last member) with that sibling's
indentation, on its own line where members sit on their own lines and inline otherwise; `schema_version` goes in
front of the first key. Edits are applied back to front so their offsets stay valid. The caller re-reads the
result and compares it with the migrated data before writing anything (`rewritten_text` does that).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audiodiff.diagnostics.model import Span
from audiodiff.schema.migrate import Change
from audiodiff.schema.pointer import join, split
from audiodiff.schema.source import SourceDocument, load_text
from audiodiff.schema.source_map import JSON_LINE_BREAK, YAML_LINE_BREAK, LineIndex

_PLAIN_YAML = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_YAML_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"})


class RewriteError(ValueError):
    """The text could not be edited in place so that it reads as the migrated document."""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def rewritten_text(document: SourceDocument, changes: Sequence[Change], expected: dict[str, Any]) -> str:
    """The document's text with `changes` applied; raises RewriteError unless it reads back as `expected`."""
    text = apply_changes(document, changes)
    reread = load_text(text, document.path, document.format)
    if reread.document is None or reread.document.data != expected:
        raise RewriteError(f"`{document.path}` could not be rewritten in place without changing its meaning")
    return text


def apply_changes(document: SourceDocument, changes: Sequence[Change]) -> str:
    editor = _Editor(document)
    edits = [editor.edit(change) for change in changes]
    text = document.text
    # back to front; edits at one offset keep the order of the changes
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


class _Editor:
    def __init__(self, document: SourceDocument) -> None:
        self.document = document
        self.text = document.text
        self.yaml = document.format == "yaml"
        self.lines = LineIndex(self.text, YAML_LINE_BREAK if self.yaml else JSON_LINE_BREAK)
        self.newline = "\r\n" if "\r\n" in self.text else "\n"
        self.source_map = document.source_map

    def edit(self, change: Change) -> _Edit:
        if change.kind == "version" and "/schema_version" not in self.source_map:
            return self._insert_first("schema_version", change.new)
        position = self.source_map.get(change.pointer)
        if position is not None:
            return self._replace(position.value, change.new)
        if change.kind in ("added", "filled"):
            return self._insert(change.parent, change.key, change.new, change.after)
        raise RewriteError(f"`{change.pointer}` is not in the text of `{self.document.path}`")

    # --- offsets --------------------------------------------------------------------------------------------------

    def offset(self, line: int, column: int) -> int:
        return self.lines.starts[line - 1] + column - 1

    def span_offsets(self, span: Span) -> tuple[int, int]:
        end_line, end_column = _end(span)
        return self.offset(span.line, span.column), self.offset(end_line, end_column)

    def line_indent(self, line: int, column: int) -> str:
        """The text in front of column `column` of `line` as whitespace (a `- ` item marker becomes spaces)."""
        start = self.lines.starts[line - 1]
        prefix = self.text[start : start + column - 1]
        return "".join(ch if ch == "\t" else " " for ch in prefix)

    def line_end(self, line: int) -> int:
        """Offset of the line break that ends `line` (or of the text's end)."""
        if line < len(self.lines.starts):
            end = self.lines.starts[line]
            while end > 0 and self.text[end - 1] in "\r\n\x85\u2028\u2029":
                end -= 1
            return end
        return len(self.text)

    # --- scalars --------------------------------------------------------------------------------------------------

    def _replace(self, span: Span, value: Any) -> _Edit:
        start, end = self.span_offsets(span)
        old = self.text[start:end]
        return _Edit(start, end, self._scalar(value, old[:1]))

    def _scalar(self, value: Any, quote: str = "") -> str:
        if not self.yaml or not isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        if quote == "'":
            return "'" + value.replace("'", "''") + "'"
        if quote == '"' or not _PLAIN_YAML.match(value) or value.lower() in _YAML_RESERVED:
            return json.dumps(value, ensure_ascii=False)
        return value

    def _key(self, key: str) -> str:
        return self._scalar(key) if self.yaml else json.dumps(key, ensure_ascii=False)

    # --- new members ----------------------------------------------------------------------------------------------

    def _members(self, pointer: str) -> list[str]:
        """Keys of the object at `pointer`, in text order."""
        node: Any = self.document.data
        for token in split(pointer):
            node = node[token] if isinstance(node, dict) else node[int(token)]
        if not isinstance(node, dict):
            raise RewriteError(f"`{pointer or '/'}` is not an object in `{self.document.path}`")
        keys = [key for key in node if join(pointer, key) in self.source_map]
        return sorted(keys, key=lambda k: self._key_start(join(pointer, k)))

    def _key_start(self, pointer: str) -> int:
        position = self.source_map[pointer]
        span = position.key or position.value
        return self.offset(span.line, span.column)

    def _is_flow(self, pointer: str) -> bool:
        """JSON objects and YAML `{...}` mappings (as opposed to YAML block mappings)."""
        if not self.yaml:
            return True
        span = self.source_map[pointer].value
        return self.text[self.offset(span.line, span.column)] == "{"

    def _insert(self, parent: str, key: str, value: Any, after: str | None) -> _Edit:
        if parent not in self.source_map:
            raise RewriteError(f"`{parent or '/'}` is not in the text of `{self.document.path}`")
        members = self._members(parent)
        member = f"{self._key(key)}{{separator}}{self._scalar(value)}"
        if not members:
            return self._insert_into_empty(parent, member.format(separator=": "))
        anchor = after if after in members else members[-1]
        anchor_position = self.source_map[join(parent, anchor)]
        key_span, value_span = _key_span(anchor_position.key, anchor), anchor_position.value
        separator = self._separator(key_span, value_span)
        member = member.format(separator=separator)
        indent = self.line_indent(key_span.line, key_span.column)
        if self._is_flow(parent):
            _, end = self.span_offsets(value_span)
            parent_span = self.source_map[parent].value
            if key_span.line > parent_span.line:  # members on their own lines
                return _Edit(end, end, f",{self.newline}{indent}{member}")
            return _Edit(end, end, f", {member}")
        # YAML block mapping: a new line after the anchor's value (a block scalar's span ends on the next line)
        last_line, last_column = _end(value_span)
        if last_column == 1 and last_line > value_span.line:
            last_line -= 1
        end = self.line_end(last_line)
        return _Edit(end, end, f"{self.newline}{indent}{member}")

    def _separator(self, key_span: Span, value_span: Span) -> str:
        """The text between an existing key and its value (`": "`, `":"`, `: `), reused for the new member."""
        start = self.offset(*_end(key_span))
        end = self.offset(value_span.line, value_span.column)
        between = self.text[start:end]
        if "\n" in between or "\r" in between or not between.strip().startswith(":"):
            return ": "
        return between.strip() + (" " if between.endswith(" ") or self.yaml else "")

    def _insert_into_empty(self, parent: str, member: str) -> _Edit:
        span = self.source_map[parent].value
        start, end = self.span_offsets(span)
        if self.text[start] != "{":
            raise RewriteError(f"`{parent or '/'}` in `{self.document.path}` is an empty block; cannot add to it")
        return _Edit(start + 1, end - 1, member)

    def _insert_first(self, key: str, value: Any) -> _Edit:
        members = self._members("")
        member = f"{self._key(key)}: {self._scalar(value)}"
        if not members:
            return self._insert_into_empty("", member)
        first = self.source_map[join("", members[0])]
        key_span = _key_span(first.key, members[0])
        start = self.offset(key_span.line, key_span.column)
        indent = self.line_indent(key_span.line, key_span.column)
        separator = self._separator(key_span, first.value)
        member = f"{self._key(key)}{separator}{self._scalar(value)}"
        if self._is_flow(""):
            root_line = self.source_map[""].value.line
            if key_span.line > root_line:
                return _Edit(start, start, f"{member},{self.newline}{indent}")
            return _Edit(start, start, f"{member}, ")
        return _Edit(start, start, f"{member}{self.newline}{indent}")


def _key_span(span: Span | None, key: str) -> Span:
    if span is None:  # source maps give every object member a key span; only list items and the root lack one
        raise RewriteError(f"`{key}` has no key in the source map")
    return span


def _end(span: Span) -> tuple[int, int]:
    if span.end_line is None or span.end_column is None:  # source-map spans always carry their end
        raise RewriteError(f"the value at {span.line}:{span.column} has no recorded end")
    return span.end_line, span.end_column
