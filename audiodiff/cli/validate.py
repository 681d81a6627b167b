"""`audiodiff validate`: schema, rules and graph contracts for each file, reported together."""

from __future__ import annotations

import sys
from pathlib import Path

from audiodiff.cli.files import expand_paths
from audiodiff.cli.output import emit_results, exit_code
from audiodiff.compiler.pipeline import check_file


def run_validate(paths: list[Path], format: str, *, strict: bool, verbose: bool) -> int:
    from audiodiff.lint.settings import SettingsError

    try:
        files = expand_paths(paths)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not files:
        print("note: no .json, .yaml or .yml files found in " + ", ".join(str(p) for p in paths), file=sys.stderr)
    results = [check_file(path, count_params=False).result() for path in files]
    emit_results(results, format, verbose=verbose, tool="validate", stream=sys.stdout)
    return exit_code(results, strict=strict)
