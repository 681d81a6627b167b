"""GitHub Actions workflow commands: one `::error` / `::warning` / `::notice` annotation per diagnostic, which
GitHub shows on the pull request's diff at the file, line and column.

`::error file=configs/a.json,line=74,col=32,endLine=74,endColumn=39,title=AD201 unknown-conditioner-id::message`
Property values escape `%`, CR, LF, `:` and `,`; the message escapes `%`, CR and LF (GitHub's own rules), so the
pointer and the help line travel as extra lines of the annotation. Control characters that came from a config or a
file name (ESC, CR, LF inside a key) are first shown as visible escapes, as in the text format.
"""

from __future__ import annotations

from collections.abc import Sequence

from audiodiff.diagnostics.bounds import sanitize
from audiodiff.diagnostics.model import Diagnostic, Severity
from audiodiff.diagnostics.render import FileResult

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def render(results: Sequence[FileResult]) -> str:
    lines = [annotation(diagnostic, result.path) for result in results for diagnostic in result.sorted()]
    return "".join(line + "\n" for line in lines)


def annotation(diagnostic: Diagnostic, path: str) -> str:
    code = diagnostic.code
    properties = [("file", (diagnostic.path or path).replace("\\", "/"))]
    span = diagnostic.span
    if span is not None:
        properties.append(("line", str(span.line)))
        properties.append(("col", str(span.column)))
        if span.end_line is not None and span.end_column is not None:
            properties.append(("endLine", str(span.end_line)))
            properties.append(("endColumn", str(span.end_column)))
    properties.append(("title", f"{code.id} {code.name}"))
    header = ",".join(f"{key}={_escape_property(sanitize(value))}" for key, value in properties)
    body = [diagnostic.message]
    if diagnostic.pointer is not None:
        body.append(f"at: {diagnostic.pointer or '(root)'}")
    for related in diagnostic.related:
        where = related.pointer or ""
        if related.span is not None:
            where = (
                f"{related.path + ':' if related.path not in (None, path) else ''}{related.span.line}:"
                f"{related.span.column}" + (f" ({related.pointer})" if related.pointer else "")
            )
        body.append(f"note: {related.message}" + (f": {where}" if where else ""))
    if diagnostic.help:
        body.append(f"help: {diagnostic.help}")
    body.append(f"docs: {code.docs_url}")
    # each line is sanitized before the lines are joined: a config's own CR, LF or ESC never reaches the log raw
    text = chr(10).join(sanitize(line) for line in body)
    return f"::{_COMMAND[diagnostic.effective_severity]} {header}::{_escape_data(text)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
