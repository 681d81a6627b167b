"""`audiodiff validate`: schema, rules and graph contracts for each file, reported together."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from audiodiff.cli.options import TARGET_HELP, OutputFormat


def command(
    paths: list[Path] = typer.Argument(..., help="Config files (JSON or YAML), or folders to search for them."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add a documentation link to each diagnostic."),
    target: Optional[str] = typer.Option(None, "--target", help=TARGET_HELP),
) -> None:
    """Check configs against the schema, every cross-field rule and the graph's width contracts.

    All problems of all files are reported in one pass, each with file:line:col, a JSON pointer, a code and a
    fix hint. Exit code 0: no errors; 1: errors found; 2: usage error.

    Examples:

      audiodiff validate model_config.json

      audiodiff validate configs/ --format json

      audiodiff validate configs/ --target stable-audio-tools
    """
    raise typer.Exit(run_validate(paths, format.value, strict=strict, verbose=verbose, target=target))


def run_validate(paths: list[Path], format: str, *, strict: bool, verbose: bool, target: str | None = None) -> int:
    from audiodiff.cli.files import expand_paths, resolve_target
    from audiodiff.cli.output import emit_results, exit_code
    from audiodiff.compiler.pipeline import check_file
    from audiodiff.lint.settings import SettingsError

    try:
        files = expand_paths(paths)
        judged_for = resolve_target(paths, target)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not files:
        print("note: no .json, .yaml or .yml files found in " + ", ".join(str(p) for p in paths), file=sys.stderr)
    results = [check_file(path, count_params=False, target=judged_for).result() for path in files]
    emit_results(results, format, verbose=verbose, tool="validate", stream=sys.stdout)
    return exit_code(results, strict=strict)
