"""`audiodiff validate`: schema, rules and graph contracts for each file, reported together."""

from __future__ import annotations

import sys
from pathlib import Path

from audiodiff.cli.output import emit_results, exit_code
from audiodiff.cli.files import expand_paths
from audiodiff.compiler.pipeline import check_file


def run_validate(paths: list[Path], format: str, *, strict: bool, verbose: bool) -> int:
    results = [check_file(path, count_params=False).result() for path in expand_paths(paths)]
    emit_results(results, format, verbose=verbose, tool="validate", stream=sys.stdout)
    return exit_code(results, strict=strict)
