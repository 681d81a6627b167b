"""Rendering results to a stream in the chosen format, and the exit code they mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from audiodiff.diagnostics.render import FileResult, totals


def emit_results(results: Sequence[FileResult], format: str, *, verbose: bool, tool: str, stream: TextIO) -> None:
    if format == "json":
        from audiodiff.diagnostics.render import json as json_renderer

        stream.writelines(json_renderer.chunks(results))  # streamed: a large run's report is never held whole
    elif format == "github":
        from audiodiff.diagnostics.render import github

        stream.write(github.render(results))
    elif format == "sarif":
        from audiodiff.diagnostics.render import sarif

        stream.write(sarif.render(results, tool=tool))
    elif format == "junit":
        from audiodiff.diagnostics.render import junit

        stream.write(junit.render(results, tool=tool))
    else:
        from audiodiff.diagnostics.render import text

        stream.writelines(text.chunks(results, verbose=verbose))


def exit_code(results: Sequence[FileResult], *, strict: bool) -> int:
    """1 for errors, or for warnings under `--strict` (which then says so on stderr: a summary of "0 errors" must
    not end in exit 1 without a word)."""
    errors, warnings = totals(results)
    if not errors and strict and warnings:
        import sys

        print(
            f"exit 1: --strict counts the {warnings} warning{'s' if warnings != 1 else ''} as errors", file=sys.stderr
        )
    if errors or (strict and warnings):
        return 1
    return 0
