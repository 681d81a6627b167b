"""SARIF 2.1.0 (OASIS), the format GitHub code scanning and other dashboards ingest.

One run, tool `audiodiff` with one rule per code that occurs (short description, help text and the
documentation link of the code), one result per diagnostic with its physical location (file, 1-based line and
column, exclusive end), its JSON pointer as the logical location, related places as related locations, and a
partial fingerprint from file, code and pointer so an alert survives lines moving. A result without a known line
points at line 1: GitHub shows only results with `region.startLine`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from audiodiff import __version__
from audiodiff.diagnostics.codes import Code
from audiodiff.diagnostics.model import Diagnostic, Severity, Span
from audiodiff.diagnostics.render import FileResult

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/audiodiff/audiodiff"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_DEFAULT_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render(results: Sequence[FileResult], *, tool: str = "lint") -> str:
    return json.dumps(document(results, tool=tool), indent=2, ensure_ascii=False) + "\n"


def document(results: Sequence[FileResult], *, tool: str = "lint") -> dict[str, Any]:
    pairs = [(result, diagnostic) for result in results for diagnostic in result.sorted()]
    used = sorted({diagnostic.code.id: diagnostic.code for _, diagnostic in pairs}.values(), key=lambda c: c.id)
    index = {code.id: position for position, code in enumerate(used)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "audiodiff",
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [rule(code) for code in used],
                    }
                },
                "automationDetails": {"id": f"audiodiff/{tool}/"},
                "columnKind": "unicodeCodePoints",
                "results": [
                    _result(diagnostic, result.path, index[diagnostic.code.id]) for result, diagnostic in pairs
                ],
            }
        ],
    }


def rule(code: Code) -> dict[str, Any]:
    return {
        "id": code.id,
        "name": code.name,
        "shortDescription": {"text": code.summary},
        "fullDescription": {"text": f"{code.id} {code.name}: {code.summary}"},
        "helpUri": code.docs_url,
        "help": {
            "text": f"{code.summary}. {code.docs_url} has a minimal config that triggers it and the fix.",
            "markdown": f"{code.summary}.\n\n[{code.id} in the audiodiff docs]({code.docs_url}) has a minimal config "
            "that triggers it and the fix.",
        },
        "defaultConfiguration": {"level": _DEFAULT_LEVEL[code.severity]},
        "properties": {"tags": ["audiodiff", "config"]},
    }


def _result(diagnostic: Diagnostic, path: str, rule_index: int) -> dict[str, Any]:
    file = diagnostic.path or path
    text = diagnostic.message + (f"\nhelp: {diagnostic.help}" if diagnostic.help else "")
    location: dict[str, Any] = {"physicalLocation": _physical(file, diagnostic.span)}
    if diagnostic.pointer is not None:
        location["logicalLocations"] = [{"fullyQualifiedName": diagnostic.pointer or "(root)"}]
    result: dict[str, Any] = {
        "ruleId": diagnostic.code.id,
        "ruleIndex": rule_index,
        "level": _LEVEL[diagnostic.effective_severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"audiodiffPointer/v1": _fingerprint(file, diagnostic)},
    }
    related = [
        {
            "id": number,
            "physicalLocation": _physical(note.path or file, note.span),
            "message": {"text": note.message + (f" ({note.pointer})" if note.pointer else "")},
        }
        for number, note in enumerate(diagnostic.related, start=1)
    ]
    if related:
        result["relatedLocations"] = related
    properties = {"name": diagnostic.code.name, "pointer": diagnostic.pointer}
    if diagnostic.help:
        properties["help"] = diagnostic.help
    result["properties"] = properties
    return result


def _physical(path: str, span: Span | None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": 1}
    if span is not None:
        region = {"startLine": span.line, "startColumn": span.column}
        if (
            span.end_line is not None
            and span.end_column is not None
            and (span.end_line, span.end_column) > (span.line, span.column)
        ):
            region["endLine"] = span.end_line
            region["endColumn"] = span.end_column
    return {"artifactLocation": artifact_location(path), "region": region}


def artifact_location(path: str) -> dict[str, Any]:
    """A relative path stays relative to the source root (`%SRCROOT%`, the checkout in CI); an absolute one
    becomes a `file:` URI."""
    pure = PurePath(path)
    if pure.is_absolute():
        return {"uri": PurePath(os.path.abspath(path)).as_uri()}
    return {"uri": quote(pure.as_posix(), safe="/"), "uriBaseId": "%SRCROOT%"}


def _fingerprint(path: str, diagnostic: Diagnostic) -> str:
    key = "\0".join((PurePath(path).as_posix(), diagnostic.code.id, diagnostic.pointer or "", diagnostic.message))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
