"""Bounded work on hostile input: `validate` time against the number of unknown keys, and `lint`'s peak memory over a
large tree.

- Keys: one-line JSON files with 5k, 10k, 20k and 40k unknown keys, each validated by a fresh
  `audiodiff validate FILE` process. Baseline in the same run: the same command on the file with no unknown keys
  (interpreter start, imports). Printed: wall seconds, seconds above the baseline, output bytes, and the ratio of
  each extra cost to the 5k one; linear work shows ratios near 1, 2, 4, 8 (or flatter, since only the first 100
  diagnostics are built and shown). Aim: the 40k file no slower than 8x the 5k one above the baseline.
- Tree: `audiodiff lint TREE --format json` as a fresh process over a generated tree (tests/lint/config_tree.py)
  of N configs (default 100,000), its wall time and peak resident memory (ru_maxrss of the child). Baseline in the
  same run: the same over a tree of N/100 configs, so the ratio shows how memory grows with the tree. Aim: peak
  under 500 MB for 100,000 configs.

    python bench/hostile_bench.py [--keys 5000,10000,20000,40000] [--configs 100000] [--skip-tree] [--skip-keys]
                                  [--keep DIR]
    AUDIODIFF_BENCH_REPO=/path/to/other/checkout python bench/hostile_bench.py ...   (the same files, other code)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lint"))

from config_tree import build_tree  # noqa: E402 (found through the path set above)

BASE = {"model_type": "autoencoder", "sample_rate": 44100, "sample_size": 65536, "audio_channels": 2}
AIM_PEAK_MB = 500


def _audiodiff(*args: str, cwd: Path) -> tuple[float, int, float]:
    """(CPU seconds, stdout bytes, peak RSS in MB) of one fresh `audiodiff` process. CPU time, not wall time: the
    machines these run on are shared, and CPU time of one single-threaded process does not count the waiting."""
    command = [
        sys.executable,
        "-c",
        (
            "import resource, sys, runpy\n"
            "sys.argv = ['audiodiff', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('audiodiff', run_name='__main__')\n"
            "except SystemExit as stop:\n    code = stop.code\nelse:\n    code = 0\n"
            "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
            "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr)\n"
            "sys.exit(code)\n"
        ),
        *args,
    ]
    # AUDIODIFF_BENCH_REPO: measure another checkout (e.g. the code before a change) with the same files
    environment = {**os.environ, "PYTHONPATH": os.environ.get("AUDIODIFF_BENCH_REPO", str(ROOT))}
    completed = subprocess.run(command, cwd=cwd, capture_output=True, env=environment, check=False)
    peak_kb, cpu = completed.stderr.decode().strip().splitlines()[-1].split()
    return float(cpu), len(completed.stdout), int(peak_kb) / 1024


def keys_bench(counts: list[int], folder: Path) -> None:
    def write(count: int) -> Path:
        document = dict(BASE)
        document.update({f"unknown_key_{index}": index for index in range(count)})
        path = folder / f"keys_{count}.json"
        path.write_text(json.dumps(document))  # one line
        return path

    baseline, _, _ = _audiodiff("validate", str(write(0)), cwd=folder)
    print(f"validate, one-line file, baseline (no unknown keys): {baseline:.2f} CPU s")
    print(f"{'unknown keys':>12}  {'file MB':>7}  {'CPU s':>7}  {'above base s':>12}  {'ratio':>6}  {'output KB':>9}")
    first_extra = None
    for count in counts:
        path = write(count)
        wall, output, _ = _audiodiff("validate", str(path), cwd=folder)
        extra = max(wall - baseline, 1e-3)
        first_extra = first_extra or extra
        print(
            f"{count:>12}  {path.stat().st_size / 2**20:>7.2f}  {wall:>7.2f}  {extra:>12.2f}  "
            f"{extra / first_extra:>6.2f}  {output / 1024:>9.1f}"
        )


def _tree(root: Path, configs: int) -> Path:
    """A generated tree of `configs` configs at `root`, reused when a previous run left it complete there."""
    marker = root / ".complete"
    if not marker.exists():
        build_tree(root, configs)
        marker.write_text(str(configs))
    return root


def tree_bench(configs: int, folder: Path) -> None:
    small_count = max(configs // 100, 10)
    small_root = _tree(folder / f"tree_{small_count}", small_count)
    wall, output, peak = _audiodiff("lint", ".", "--format", "json", cwd=small_root)
    print(
        f"lint baseline: {small_count} configs: {wall:.1f} CPU s, peak {peak:.0f} MB, {output / 2**20:.1f} MB of JSON"
    )
    start = time.perf_counter()
    large_root = _tree(folder / f"tree_{configs}", configs)
    print(f"(tree of {configs} configs ready in {time.perf_counter() - start:.0f} s)")
    wall_large, output_large, peak_large = _audiodiff("lint", ".", "--format", "json", cwd=large_root)
    print(
        f"lint: {configs} configs: {wall_large:.1f} CPU s ({configs / wall_large:.0f} configs per CPU s), "
        f"peak {peak_large:.0f} MB, {output_large / 2**20:.1f} MB of JSON"
    )
    print(
        f"ratio to baseline: {configs / small_count:.0f}x the configs, {wall_large / wall:.1f}x the CPU time, "
        f"{peak_large / peak:.2f}x the peak memory; aim: peak under {AIM_PEAK_MB} MB "
        f"({'met' if peak_large < AIM_PEAK_MB else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="5000,10000,20000,40000")
    parser.add_argument("--configs", type=int, default=100_000)
    parser.add_argument("--skip-tree", action="store_true")
    parser.add_argument("--skip-keys", action="store_true")
    parser.add_argument("--keep", type=Path, help="generate the trees here and reuse them in later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audiodiff-hostile-bench-") as workdir:
        folder = Path(workdir)
        if not args.skip_keys:
            keys_bench([int(count) for count in args.keys.split(",")], folder)
        if not args.skip_tree:
            tree_bench(args.configs, args.keep or folder)


if __name__ == "__main__":
    main()
