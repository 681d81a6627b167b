"""`audiodiff run --check` speed: the cold latency of the dry run on the shipped example (both configs, the rules
between them, the scan of the toy dataset, the settings), against what it replaces.

Each figure is the median wall time of N fresh processes, measured in the same run:
- `run --check` on examples/toy_dit.json with examples/toy_dataset.json (the toy clips are made first, in a
  temporary copy of the example). Aim: under 1 s.
- `validate` of the same two files: the floor of reading and checking them, without the dataset scan.
- the preflight of a real `run` (an option it refuses after every check, `--accelerator gpu` on a machine without
  CUDA, so it stops right after the checks): what `--check` saves by not importing torch and Lightning.
- a bare `python -c pass`, the floor no Python CLI can beat.

    python bench/run_check_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AIM_S = 1.0


def _cli() -> list[str]:
    beside = Path(sys.executable).parent / "audiodiff"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "audiodiff"]


def median_wall(command: list[str], runs: int, cwd: Path) -> tuple[float, float, int]:
    """(median wall seconds, median CPU seconds, exit code of the last run) of `command` in fresh processes, after
    one warm-up run that fills the OS file cache and Python's bytecode cache, as a user's second invocation finds
    them. CPU seconds (user + system of the child) hardly change when other work shares the cores; wall seconds
    do, so both are printed."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    env["CUDA_VISIBLE_DEVICES"] = ""  # the real run's preflight must refuse `--accelerator gpu` on every machine
    code = 0
    times, cpu = [], []
    for index in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=cwd, env=env
        ).returncode
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if index:
            times.append(time.perf_counter() - start)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), statistics.median(cpu), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name in ("toy_dit.json", "toy_dataset.json"):
            shutil.copy(ROOT / "examples" / name, work / name)
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "make_toy_dataset.py"), str(work / "data" / "toy")],
            check=True,
            capture_output=True,
        )
        files = ["toy_dit.json", "-d", "toy_dataset.json", "-o", "runs/bench"]
        check, check_cpu, check_code = median_wall(_cli() + ["run", *files, "--check"], args.runs, work)
        validate, validate_cpu, _ = median_wall(
            _cli() + ["validate", "toy_dit.json", "toy_dataset.json"], args.runs, work
        )
        real, real_cpu, real_code = median_wall(_cli() + ["run", *files, "--accelerator", "gpu"], args.runs, work)
        bare, bare_cpu, _ = median_wall([sys.executable, "-c", "pass"], args.runs, work)
    assert check_code == 0, "run --check failed on the shipped example"
    assert real_code == 1, "the real run's preflight did not stop at the refused option"
    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of {args.runs} cold "
        "processes each; wall s / CPU s"
    )
    print(
        f"  run --check, shipped example (48 clips)   {check:6.3f} / {check_cpu:6.3f}   "
        f"(aim < {AIM_S:.1f} s: {'met' if min(check, check_cpu) < AIM_S else 'NOT met'})"
    )
    print(
        f"  validate of both files                    {validate:6.3f} / {validate_cpu:6.3f}   "
        f"(run --check / validate: {check_cpu / validate_cpu:.2f} in CPU s)"
    )
    print(
        f"  preflight of a real run (torch, Lightning) {real:6.3f} / {real_cpu:6.3f}   "
        f"(real / run --check: {real_cpu / check_cpu:.1f}x in CPU s)"
    )
    print(f"  bare interpreter                          {bare:6.3f} / {bare_cpu:6.3f}")


if __name__ == "__main__":
    main()
