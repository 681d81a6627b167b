"""Reporting a command's own findings (a bad checkpoint, a request that does not fit) the way `validate` reports
config problems: a coded diagnostic on stderr, and an exit code, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from audiodiff.diagnostics.codes import Code
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.render import FileResult
from audiodiff.diagnostics.render import text as text_renderer


def report(path: str, diagnostics: Sequence[Diagnostic], line=None) -> int:
    """Print diagnostics of `path` to stderr; 1 when any is an error, else 0."""
    result = FileResult(path, list(diagnostics), line or (lambda number: None))
    sys.stderr.write(text_renderer.render([result], summary=False))
    return 0 if result.valid else 1


def fail(path: str, code: Code, message: str, *, help: str | None = None, pointer: str | None = None) -> int:
    return report(path, [Diagnostic(code, message, pointer, path=path, help=help)])
