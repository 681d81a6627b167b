"""The bench scripts run end to end in their no-baseline mode at tiny sizes, so they cannot rot (nothing here is
timed: the figures belong to bench/RESULTS.md). With the reference environment present, the same-run comparison
machinery is exercised too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"

TINY = {
    "sampling_bench.py": ["--repeats", "1", "--frames", "16", "--steps", "2", "--batch", "1"],
    "dit_cpu.py": ["--repeats", "1", "--warmup", "0", "--frames", "16", "--batch", "1"],
    "ae_decode_bench.py": ["--repeats", "1", "--seconds", "0.8"],
    "first_error_bench.py": ["--repeats", "1"],
    "explain_bench.py": ["--repeats", "1", "--tiny", "--skip-build"],
}


def _run(script: str, *extra: str, reference: bool = False) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{BENCH}"}
    if not reference:
        environment.pop("AUDIODIFF_REFERENCE_PYTHON", None)
    arguments = [*TINY[script], *extra] if reference else [*TINY[script], "--no-reference", *extra]
    return subprocess.run(
        [sys.executable, str(BENCH / script), *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env=environment,
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TINY))
def test_each_bench_runs_without_a_baseline(script: str):
    result = _run(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no baseline measured" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 2  # the header and at least one measurement
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[2]) >= 0 and cells[3] == "-"


def test_the_reference_is_found_only_where_it_runs(tmp_path: Path, monkeypatch):
    sys.path.insert(0, str(BENCH))
    try:
        import reference
    finally:
        sys.path.remove(str(BENCH))
    monkeypatch.setenv(reference.ENV_VARIABLE, str(tmp_path / "missing" / "python"))
    assert reference.reference_python() is None
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(reference.ENV_VARIABLE, str(fake))
    assert reference.reference_python() == fake


@pytest.mark.slow
def test_the_same_run_comparison_with_the_reference(shared_reference_python: str | None):
    if shared_reference_python is None:
        pytest.skip("no reference environment (make bench-env, or set AUDIODIFF_REFERENCE_PYTHON)")
    result = _run("sampling_bench.py", reference=True)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| sampling")]
    assert len(rows) == 2 and all(row.split("|")[6].strip().endswith("x") for row in rows)


@pytest.mark.slow
def test_the_data_loader_bench_runs_at_a_tiny_size():
    environment = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{BENCH}", "OMP_NUM_THREADS": "1"}
    tiny = ["--clips", "8", "--per-shard", "4", "--seconds", "1", "--crop", "8192", "--batch-size", "2"]
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "data_loader_bench.py"),
            *tiny,
            "--batches",
            "1",
            "--repeats",
            "1",
            "--workers",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 0 |")]
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[2]) > 0 and float(cells[3]) > 0
