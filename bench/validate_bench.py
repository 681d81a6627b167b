"""`audiodiff validate` speed: cold latency of one file, and throughput of many files in one process.

- Cold latency: the median wall time of N fresh `audiodiff validate CONFIG` processes on one stable-audio-tools
  config (interpreter start, imports, the first pydantic schema build, reading, rules, graph contracts). Baseline
  in the same run: a bare `python -c pass`, the floor no Python CLI can beat. Aim: under 0.3 s.
- Throughput: `check_file` over the shipped stable-audio-tools configs plus tests/corpus/valid, again and again
  in one process after a warm-up round, as configs per second. Aim: over 1,000 configs/s.
- Alias bomb: reading a YAML "billion laughs" file (nine levels of nine aliases, 9**9 nodes when expanded) until
  its refusal (AD012), beside reading a plain file of the same size. Aim: refused in under 1 s.

The shipped configs come from `$AUDIODIFF_SHARED/corpus/sat` (default: `shared/corpus/sat` beside the repo); without them
the valid corpus alone is used and the latency is measured on its largest config.

    python bench/validate_bench.py [--runs 7] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUDIODIFF_SHARED", ROOT.parent / "shared")) / "corpus" / "sat"
VALID = ROOT / "tests" / "corpus" / "valid"
LATENCY_CONFIG = "txt2audio__stable_audio_2_0.json"

AIM_COLD_S = 0.3
AIM_CONFIGS_PER_S = 1000.0
AIM_BOMB_S = 1.0


def _configs() -> list[Path]:
    suffixes = (".json", ".yaml", ".yml")
    shared = sorted(p for p in SHARED.glob("*") if p.suffix in suffixes) if SHARED.is_dir() else []
    return shared + sorted(p for p in VALID.iterdir() if p.suffix in suffixes)


def _cli() -> list[str]:
    beside = Path(sys.executable).parent / "audiodiff"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "audiodiff"]


def _median_wall(command: list[str], runs: int) -> float:
    times = []
    # a new process, as a user's shell starts it: with Python's bytecode cache (some sandboxes disable writing it,
    # which would make every run compile audiodiff's sources again)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=ROOT, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_latency(config: Path, runs: int) -> tuple[float, float]:
    """(median seconds of `audiodiff validate CONFIG`, median seconds of a bare interpreter)."""
    _median_wall(_cli() + ["validate", str(config)], 1)  # warm the OS file cache and the bytecode cache
    return _median_wall(_cli() + ["validate", str(config)], runs), _median_wall([sys.executable, "-c", "pass"], runs)


def throughput(configs: list[Path], rounds: int) -> tuple[float, int]:
    """(configs per second of `check_file` in this process, diagnostics seen per round), with the settings
    `audiodiff validate` uses (no parameter counts)."""
    sys.path.insert(0, str(ROOT))
    from audiodiff.compiler.pipeline import check_file

    found = sum(len(check_file(path, count_params=False).diagnostics) for path in configs)  # warm-up: imports
    start = time.perf_counter()
    for _ in range(rounds):
        for path in configs:
            check_file(path, count_params=False)
    elapsed = time.perf_counter() - start
    return rounds * len(configs) / elapsed, found


def _alias_bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    return "\n".join(lines) + "\n"


def alias_bomb(rounds: int) -> tuple[float, float]:
    """(median seconds to refuse the alias bomb, median seconds to read a plain YAML file of the same length)."""
    sys.path.insert(0, str(ROOT))
    from audiodiff.schema.source import load_text

    bomb = _alias_bomb()
    plain = "".join(f"k{index}: [1, 2, 3]\n" for index in range(len(bomb) // 14))

    def median(text: str) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            load_text(text, "bench.yaml")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return median(bomb), median(plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes for the cold latency")
    parser.add_argument("--rounds", type=int, default=30, help="passes over all configs for the throughput")
    args = parser.parse_args()

    configs = _configs()
    target = SHARED / LATENCY_CONFIG
    if not target.exists():
        target = max(configs, key=lambda p: p.stat().st_size)
    cold, floor = cold_latency(target, args.runs)
    rate, found = throughput(configs, args.rounds)
    bomb, plain = alias_bomb(args.rounds)

    verdict = lambda ok: "meets the aim" if ok else "MISSES the aim"  # noqa: E731
    print(
        f"cold `audiodiff validate {target.name}`: {cold:.3f} s median of {args.runs} "
        f"(aim < {AIM_COLD_S} s: {verdict(cold < AIM_COLD_S)}; bare interpreter {floor:.3f} s, "
        f"so {cold - floor:.3f} s is audiodiff's)"
    )
    print(
        f"throughput: {rate:,.0f} configs/s in one process over {len(configs)} configs x {args.rounds} rounds "
        f"(aim > {AIM_CONFIGS_PER_S:,.0f}/s: {verdict(rate > AIM_CONFIGS_PER_S)}; {found} diagnostics per round)"
    )
    print(
        f"alias bomb refused in {bomb * 1e3:.2f} ms, a plain file of its size read in {plain * 1e3:.2f} ms: "
        f"{bomb / plain:.0f}x (aim < {AIM_BOMB_S} s: {verdict(bomb < AIM_BOMB_S)})"
    )


if __name__ == "__main__":
    main()
