"""Lint throughput on a generated repository, against check-jsonschema with audiodiff's exported JSON Schema.

The tree is `tests/lint/config_tree.py`'s: model and dataset configs in JSON and YAML (valid and invalid, nested
folders), unrelated JSON/YAML files among them, a `.gitignore`d folder. Measured in one run:

- audiodiff lint in-process, warm (imports and pydantic schema builds paid before the clock starts): the
  per-file cost;
- `audiodiff lint TREE --format json` as a fresh process: what CI pays, interpreter start and imports included;
- `check-jsonschema --schemafile` on the same config files, as fresh processes (the model schema for model
  configs, the dataset schema for dataset configs), with schemas from `audiodiff schema export --version 1`.

check-jsonschema checks far less (no cross-field rules, no graph contracts, no lint rules, no locations for most
errors); matching it is the bar, not the goal.

    python bench/lint_bench.py [--configs 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lint"))

from config_tree import build_tree  # noqa: E402


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"`{name}` is not installed (pip install -e '.[dev]')")
    return found


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one fresh process."""
    cpu = _children_cpu()
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start, _children_cpu() - cpu, completed.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="audiodiff-lint-bench-"))
    try:
        tree = build_tree(workdir / "repo", args.configs)
        files = tree.configs
        print(
            f"tree: {files} configs ({tree.models} model, {tree.datasets} dataset, {tree.invalid} with errors), "
            f"{tree.skipped} unrelated .json/.yaml files, {tree.excluded} excluded by .gitignore"
        )

        # --- audiodiff, in-process, warm
        start = time.perf_counter()
        from audiodiff.lint.runner import lint
        from audiodiff.lint.settings import load_settings

        settings = load_settings([tree.root], cwd=tree.root)
        imported = time.perf_counter() - start
        start = time.perf_counter()
        report = lint([tree.root], settings)
        cold = time.perf_counter() - start
        if report.checked != files:
            raise SystemExit(f"lint checked {report.checked} configs, expected {files}")
        warm, warm_cpu = [], []
        for _ in range(args.repeats):
            del report
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            report = lint([tree.root], settings)  # noqa: F841 (held until the next round frees it)
            warm.append(time.perf_counter() - start)
            warm_cpu.append(time.process_time() - cpu)
        best, best_cpu = min(warm), min(warm_cpu)
        print(
            f"audiodiff lint, in-process: import {imported:.2f} s, first run {cold:.2f} s, "
            f"warm best of {args.repeats} {best:.3f} s = {files / best:,.0f} files/s wall "
            f"({best / files * 1e3:.3f} ms per config; CPU {best_cpu:.3f} s = {files / best_cpu:,.0f} files/s)"
        )

        # --- fresh processes: audiodiff lint vs check-jsonschema
        audiodiff = _tool("audiodiff")
        runs = [_timed([audiodiff, "lint", str(tree.root), "--format", "json"], workdir) for _ in range(args.repeats)]
        lint_wall, lint_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        print(
            f"audiodiff lint, fresh process: {lint_wall:.2f} s = {files / lint_wall:,.0f} files/s wall; "
            f"CPU {lint_cpu:.2f} s = {files / lint_cpu:,.0f} files/s (exit code {runs[-1][2]})"
        )

        schemas = {}
        for kind in ("model", "dataset"):
            schemas[kind] = workdir / f"{kind}.schema.json"
            subprocess.run(
                [audiodiff, "schema", "export", "--kind", kind, "--version", "1", "-o", str(schemas[kind])], check=True
            )
        groups: dict[str, list[str]] = {"model": [], "dataset": []}
        for path in tree.paths:
            groups["dataset" if path.name.startswith("dataset_") else "model"].append(str(path))
        checker = _tool("check-jsonschema")
        checks = []
        for _ in range(args.repeats):
            timings = [
                _timed([checker, "--schemafile", str(schemas[kind]), *paths], workdir) for kind, paths in groups.items()
            ]
            checks.append((sum(t[0] for t in timings), sum(t[1] for t in timings)))
        check_wall, check_cpu = min(c[0] for c in checks), min(c[1] for c in checks)
        print(
            f"check-jsonschema, fresh processes: {check_wall:.2f} s = {files / check_wall:,.0f} files/s wall; "
            f"CPU {check_cpu:.2f} s = {files / check_cpu:,.0f} files/s"
        )
        print(
            f"ratio (same {files} configs, fresh processes, {os.cpu_count()} CPUs): audiodiff lint is "
            f"{check_wall / lint_wall:.1f}x the speed of check-jsonschema by wall time, "
            f"{check_cpu / lint_cpu:.1f}x by CPU time"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
