"""`audiodiff lint`: every model and dataset config of a repository, in one process, in the format CI reads."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from audiodiff.cli.options import TARGET_HELP, OutputFormat


def command(
    paths: list[Path] = typer.Argument(..., help="Folders to search for configs, or config files."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip paths matching this .gitignore-style pattern."),
    select: list[str] = typer.Option([], "--select", help="Report only these codes (AD201, prefixes like AD7, names)."),
    ignore: list[str] = typer.Option([], "--ignore", help="Never report these codes (comma-separated)."),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Add documentation links, value provenance and the files skipped, with the reason.",
    ),
    target: str | None = typer.Option(None, "--target", help=TARGET_HELP),
) -> None:
    """Lint every model and dataset config below PATHS in one process, for CI and pre-commit.

    Files are picked up by extension (.json .yaml .yml) and content (a `model_type` or `dataset_type` key);
    other files are skipped and counted. On top of `validate`, lint warns about unrouted conditioners,
    non-canonical spellings, a missing `schema_version`, migrated defaults, long demo rounds and `seconds_start`
    with random crops of pre-encoded data. Settings and per-file ignores come from the `tool.audiodiff` table
    of pyproject.toml.

    Examples:

      audiodiff lint configs/

      audiodiff lint . --format sarif > audiodiff.sarif

      audiodiff lint . --ignore AD703,AD901 --exclude 'legacy/'
    """
    raise typer.Exit(
        run_lint(
            paths,
            format.value,
            strict=strict,
            exclude=exclude,
            select=select,
            ignore=ignore,
            verbose=verbose,
            target=target,
        )
    )


def run_lint(
    paths: list[Path],
    format: str,
    *,
    strict: bool,
    exclude: list[str],
    select: list[str],
    ignore: list[str],
    verbose: bool,
    target: str | None = None,
) -> int:
    from audiodiff.cli.output import emit_results, exit_code
    from audiodiff.diagnostics.render import plural
    from audiodiff.lint.runner import lint
    from audiodiff.lint.settings import SettingsError, load_settings

    try:
        settings = load_settings(paths, select=select, ignore=ignore, exclude=exclude, strict=strict, target=target)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = lint(paths, settings, verbose=verbose)
    if format == "json":
        from audiodiff.diagnostics.render import json as renderer

        skipped = [{"path": item.path, "reason": item.reason} for item in report.skipped]
        sys.stdout.writelines(renderer.chunks(report.results, skipped=skipped))  # streamed, never held whole
    else:
        emit_results(report.results, format, verbose=verbose, tool="lint", stream=sys.stdout)
    if format == "text":
        if report.skipped:
            verb = "is" if len(report.skipped) == 1 else "are"
            print(
                f"Skipped {plural(len(report.skipped), 'file')} that {verb} not a model or dataset config"
                + (":" if verbose else " (`-v` lists them).")
            )
            if verbose:
                for item in report.skipped:
                    print(f"  {item.path}: {item.reason}")
        if not report.results:
            print("No model or dataset configs found.", file=sys.stderr)
    return exit_code(report.results, strict=settings.strict)
