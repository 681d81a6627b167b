"""The machine format of ARCHITECTURE.md: one JSON document, nothing else on stdout."""

from __future__ import annotations

import json as _json
from collections.abc import Iterator, Sequence
from typing import Any

from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.render import FileResult, totals


def diagnostic_object(diagnostic: Diagnostic, path: str | None = None) -> dict[str, Any]:
    """One diagnostic; a related place in another file than `path` carries its own `path`."""
    span = diagnostic.span
    data: dict[str, Any] = {
        "code": diagnostic.code.id,
        "name": diagnostic.code.name,
        "severity": diagnostic.effective_severity.value,
        "message": diagnostic.message,
        "pointer": _pointer(diagnostic.pointer),
        "line": span.line if span else None,
        "column": span.column if span else None,
        "help": diagnostic.help,
    }
    if diagnostic.related:
        data["related"] = []
        for related in diagnostic.related:
            note = {
                "message": related.message,
                "pointer": _pointer(related.pointer),
                "line": related.span.line if related.span else None,
                "column": related.span.column if related.span else None,
            }
            if related.path is not None and related.path != (path or diagnostic.path):
                note["path"] = related.path
            data["related"].append(note)
    return data


def _pointer(pointer: str | None) -> str:
    """Always a string: a finding about the file as a whole (it did not parse, it is missing) is about its root."""
    return pointer if pointer is not None else ""


def document(results: Sequence[FileResult], **extra: Any) -> dict[str, Any]:
    errors, warnings = totals(results)
    body: dict[str, Any] = {
        "files": [
            {
                "path": result.path,
                "valid": result.valid,
                "diagnostics": [diagnostic_object(d, result.path) for d in result.sorted()],
            }
            for result in results
        ],
        "errors": errors,
        "warnings": warnings,
    }
    body.update(extra)
    return body


def render(results: Sequence[FileResult], **extra: Any) -> str:
    return "".join(chunks(results, **extra))


def chunks(results: Sequence[FileResult], **extra: Any) -> Iterator[str]:
    """`render`'s text, file by file: the same bytes as dumping `document(...)` with indent 2, without ever holding
    the whole document (a lint over 100,000 files writes tens of MB)."""
    yield '{\n  "files": ['
    for index, result in enumerate(results):
        entry = {
            "path": result.path,
            "valid": result.valid,
            "diagnostics": [diagnostic_object(d, result.path) for d in result.sorted()],
        }
        # an entry nests two levels down: json.dumps at indent 2, each line moved right by 4 (JSON strings never
        # hold a raw line break, so this cannot split one)
        text = _json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n    ")
        yield ("," if index else "") + "\n    " + text
    errors, warnings = totals(results)
    tail: dict[str, Any] = {"errors": errors, "warnings": warnings}
    tail.update(extra)
    yield ("\n  ]" if results else "]")
    for key, value in tail.items():
        yield f",\n  {_json.dumps(key)}: " + _json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
    yield "\n}\n"
