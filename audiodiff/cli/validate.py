"""`audiodiff validate`: schema, rules and graph contracts for each file, reported together."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from audiodiff.cli.options import SET_HELP, TARGET_HELP, OutputFormat, parse_overrides


def command(
    paths: list[Path] = typer.Argument(..., help="Config files (JSON or YAML), or folders to search for them."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add a documentation link to each diagnostic."),
    overrides: list[str] = typer.Option([], "--set", metavar="PATH=VALUE", help=SET_HELP + " Model configs only."),
    target: str | None = typer.Option(None, "--target", help=TARGET_HELP),
) -> None:
    """Check configs against the schema, every cross-field rule and the graph's width contracts.

    All problems of all files are reported in one pass, each with file:line:col, a JSON pointer, a code and a
    fix hint. Given one model config and one dataset config, the rules between them that `run` applies are
    checked too (pre-encoded on one side only, latent lengths). Exit code 0: no errors; 1: errors found; 2:
    usage error.

    Examples:

      audiodiff validate model_config.json

      audiodiff validate examples/toy_dit.json examples/toy_dataset.json

      audiodiff validate configs/ --format json

      audiodiff validate examples/toy_dit.json --set model.diffusion.config.depth=8

      audiodiff validate configs/ --target stable-audio-tools
    """
    raise typer.Exit(
        run_validate(
            paths, format.value, strict=strict, verbose=verbose, target=target, overrides=parse_overrides(overrides)
        )
    )


def run_validate(
    paths: list[Path],
    format: str,
    *,
    strict: bool,
    verbose: bool,
    target: str | None = None,
    overrides: list | None = None,
) -> int:
    from audiodiff.cli.files import expand_paths, resolve_target
    from audiodiff.cli.output import emit_results, exit_code
    from audiodiff.compiler.pipeline import check_file
    from audiodiff.lint.settings import SettingsError

    try:
        files, problems = expand_paths(paths)
        judged_for = resolve_target(paths, target)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not files and not problems:
        print("note: no .json, .yaml or .yml files found in " + ", ".join(str(p) for p in paths), file=sys.stderr)
    checks = [check_file(path, count_params=False, target=judged_for) for path in files]
    if overrides:  # `--set` speaks of model configs: those are checked again with the overrides applied
        checks = [
            check_file(path, count_params=False, target=judged_for, overrides=overrides)
            if check.kind == "model"
            else check
            for path, check in zip(files, checks, strict=True)
        ]
    results = [check.result() for check in checks]
    models = [index for index, check in enumerate(checks) if check.kind == "model"]
    datasets = [index for index, check in enumerate(checks) if check.kind == "dataset"]
    if len(models) == 1 and len(datasets) == 1:  # a pair: the rules between the two files apply
        from audiodiff.diagnostics.render import FileResult
        from audiodiff.runtime.preflight import pairing_rules

        found = pairing_rules(checks[models[0]], checks[datasets[0]])
        if found:
            dataset = checks[datasets[0]]
            results[datasets[0]] = FileResult(dataset.path, [*dataset.diagnostics, *found], dataset.line, dataset.kind)
    if problems:  # folders that could not be listed come first, as the walk met them
        from audiodiff.diagnostics.render import FileResult

        results = [FileResult(problem.path or "", [problem]) for problem in problems] + results
    emit_results(results, format, verbose=verbose, tool="validate", stream=sys.stdout)
    return exit_code(results, strict=strict)
