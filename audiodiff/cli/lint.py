"""`audiodiff lint`: every model and dataset config of a repository, in one process, in the format CI reads."""

from __future__ import annotations

import sys
from pathlib import Path

from audiodiff.cli.output import emit_results, exit_code
from audiodiff.diagnostics.render import plural


def run_lint(
    paths: list[Path],
    format: str,
    *,
    strict: bool,
    exclude: list[str],
    select: list[str],
    ignore: list[str],
    verbose: bool,
) -> int:
    from audiodiff.lint.runner import lint
    from audiodiff.lint.settings import SettingsError, load_settings

    try:
        settings = load_settings(paths, select=select, ignore=ignore, exclude=exclude, strict=strict)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = lint(paths, settings, verbose=verbose)
    if format == "json":
        from audiodiff.diagnostics.render import json as renderer

        sys.stdout.write(renderer.render(report.results, skipped=len(report.skipped)))
    else:
        emit_results(report.results, format, verbose=verbose, tool="lint", stream=sys.stdout)
    if format == "text":
        if report.skipped:
            verb = "is" if len(report.skipped) == 1 else "are"
            print(f"Skipped {plural(len(report.skipped), 'file')} that {verb} not a model or dataset config.")
        if not report.results:
            print("No model or dataset configs found.", file=sys.stderr)
    return exit_code(report.results, strict=settings.strict)
