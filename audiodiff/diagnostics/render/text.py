"""The human format: `file:line:col: severity CODE [name] message`, a source snippet with a caret, then the
pointer, related places and a `help:` line (ruff-like)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from audiodiff.diagnostics.bounds import echo, sanitize
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.render import FileResult, plural, totals


def render(results: Sequence[FileResult], *, verbose: bool = False, summary: bool = True) -> str:
    return "".join(chunks(results, verbose=verbose, summary=summary))


def chunks(results: Sequence[FileResult], *, verbose: bool = False, summary: bool = True) -> Iterator[str]:
    """`render`'s text, one diagnostic at a time (a run over 100,000 files never holds its whole report)."""
    first = True
    for result in results:
        for diagnostic in result.sorted():
            yield ("" if first else "\n\n") + render_diagnostic(diagnostic, result, verbose=verbose)
            first = False
    if summary:
        yield ("" if first else "\n\n") + summary_line(results)
    yield "\n"


def summary_line(results: Sequence[FileResult]) -> str:
    errors, warnings = totals(results)
    files = plural(len(results), "file")
    if not errors and not warnings:
        return f"All checks passed ({files})."
    return f"Found {plural(errors, 'error')} and {plural(warnings, 'warning')} in {files}."


def location(path: str, diagnostic: Diagnostic) -> str:
    if diagnostic.span is None:
        return path
    return f"{path}:{diagnostic.span.line}:{diagnostic.span.column}"


def render_diagnostic(diagnostic: Diagnostic, result: FileResult, *, verbose: bool = False) -> str:
    code = diagnostic.code
    severity = diagnostic.effective_severity.value
    lines = [
        (
            f"{location(sanitize(diagnostic.path or result.path), diagnostic)}: {severity} {code.id} "
            f"[{code.name}] {sanitize(diagnostic.message)}"
        )
    ]
    # the `=` lines align under the snippet's `|`
    gutter = " " * (len(str(diagnostic.span.line)) if diagnostic.span else 1)
    snippet = _snippet(diagnostic, result)
    if snippet:
        lines.extend(snippet)
    if diagnostic.pointer is not None:
        lines.append(f"{gutter} = at: {sanitize(echo(diagnostic.pointer, _LONGEST_POINTER)) or '(root)'}")
    for related in diagnostic.related:
        where = sanitize(echo(related.pointer or "", _LONGEST_POINTER))
        if related.span is not None:
            same_file = related.path in (None, result.path)
            place = (
                f"{related.span.line}:{related.span.column}"
                if same_file
                else (f"{sanitize(related.path or '')}:{related.span.line}:{related.span.column}")
            )
            where = place + (f" ({where})" if where else "")
        lines.append(f"{gutter} = note: {sanitize(related.message)}" + (f": {where}" if where else ""))
    if diagnostic.help:
        lines.append(f"{gutter} = help: {sanitize(diagnostic.help)}")
    if verbose:
        lines.append(f"{gutter} = docs: {code.docs_url}")
    return "\n".join(lines)


_LONGEST_POINTER = 200  # characters of a pointer shown (a pointer holds the file's keys)
SNIPPET_WIDTH = 120  # a longer line (a minified file) is shown as a window around the caret


def _snippet(diagnostic: Diagnostic, result: FileResult) -> list[str]:
    span = diagnostic.span
    if span is None:
        return []
    text = result.line(span.line)
    if text is None:
        return []
    number = str(span.line)
    pad = " " * len(number)
    start = max(span.column - 1, 0)
    if span.end_line == span.line and span.end_column is not None and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = 1
    # the window is cut first, so the work per diagnostic is bounded by the window, not the line (a minified file
    # is one line); tabs become one space and control characters one U+FFFD, keeping the caret's column
    text = text.rstrip("\r\n")
    length = len(text)
    first = 0
    if length > SNIPPET_WIDTH:
        first = max(0, min(start - SNIPPET_WIDTH // 3, length - SNIPPET_WIDTH))
    shown = _CONTROL_IN_LINE.sub("\ufffd", text[first : first + SNIPPET_WIDTH].expandtabs(1))
    width = max(1, min(width, max(length - start, 1)))
    if length > SNIPPET_WIDTH:
        prefix = "…" if first > 0 else ""
        suffix = "…" if first + SNIPPET_WIDTH < length else ""
        shown = prefix + shown + suffix
        start = start - first + len(prefix)
        width = max(1, min(width, SNIPPET_WIDTH - (start - len(prefix))))
    return [f"{pad} |", f"{number} | {shown}", f"{pad} | {' ' * start}{'^' * width}"]


_CONTROL_IN_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
