"""The reference (stable-audio-tools at 50049e3) beside audiodiff in the same bench run.

The reference lives in its own environment (its pins conflict with ours): `make bench-env` builds it in
`.bench-env/` with the shared `reference-env.sh`, or `AUDIODIFF_REFERENCE_PYTHON` names another interpreter that
imports `stable_audio_tools`. A bench starts one worker process there (`reference_worker.py`) and asks it for
timings task by task, alternating with its own measurements, so that the machine's drift hits both sides alike.

Without the environment every bench still runs and prints "no baseline measured".

Timings are reported as wall time and as the process's CPU time: on a machine shared with other work, CPU time
moves far less than wall time, and with one torch thread on each side it is the fairer comparison.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_ENV = REPO / ".bench-env" / "bin" / "python"
ENV_VARIABLE = "AUDIODIFF_REFERENCE_PYTHON"
NO_BASELINE = "no baseline measured (build the reference environment with `make bench-env`)"


def reference_python() -> Path | None:
    """The reference environment's interpreter, or None when there is none."""
    named = os.environ.get(ENV_VARIABLE)
    candidate = Path(named) if named else DEFAULT_ENV
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU time (all its threads)


@contextmanager
def timed() -> Iterator[list[Timing]]:
    """`with timed() as box: ...` then `box[0]` is the Timing of the block."""
    box: list[Timing] = []
    wall, cpu = time.perf_counter(), time.process_time()
    yield box
    box.append(Timing(time.perf_counter() - wall, time.process_time() - cpu))


def run_fresh(command: list[str], **options: Any) -> tuple[Timing, subprocess.CompletedProcess]:
    """Run a command as a fresh process: its wall time and CPU time (user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True, **options)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu), done


class ReferenceWorker:
    """A long-lived process in the reference environment answering `call(task, **arguments)` with a dict."""

    def __init__(self, python: Path, *, threads: int):
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": ""}
        self.log = Path(tempfile.gettempdir()) / "audiodiff-reference-worker.log"  # what the reference prints
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(python), "-u", str(BENCH / "reference_worker.py"), str(threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=environment,
                cwd=str(BENCH),
            )

    def call(self, task: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"task": task, "arguments": arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference worker stopped while running `{task}` (see {self.log})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the reference failed `{task}`: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def reference_worker(threads: int, *, enabled: bool = True) -> Iterator[ReferenceWorker | None]:
    python = reference_python() if enabled else None
    if python is None:
        yield None
        return
    worker = ReferenceWorker(python, threads=threads)
    try:
        yield worker
    finally:
        worker.close()


@dataclass
class Comparison:
    """Alternating measurements of one quantity: ours, then the reference's, `repeats` times."""

    name: str
    ours: list[Timing] = field(default_factory=list)
    reference: list[Timing] = field(default_factory=list)
    note: str = ""

    def row(self) -> str:
        ours_wall = statistics.median(t.wall for t in self.ours)
        ours_cpu = statistics.median(t.cpu for t in self.ours)
        if not self.reference:
            return f"| {self.name} | {_s(ours_wall)} | {_s(ours_cpu)} | - | - | - | {self.note or 'no baseline'} |"
        ref_wall = statistics.median(t.wall for t in self.reference)
        ref_cpu = statistics.median(t.cpu for t in self.reference)
        return (
            f"| {self.name} | {_s(ours_wall)} | {_s(ours_cpu)} | {_s(ref_wall)} | {_s(ref_cpu)} | "
            f"{ref_cpu / ours_cpu:.2f}x | {self.note} |"
        )


def interleave(
    comparison: Comparison, ours: Callable[[], Timing], reference: Callable[[], Timing] | None, repeats: int
) -> Comparison:
    """Alternate the two sides `repeats` times (ours first, then the reference), so drift hits both alike."""
    for _ in range(repeats):
        comparison.ours.append(ours())
        if reference is not None:
            comparison.reference.append(reference())
    return comparison


def print_table(title: str, comparisons: list[Comparison], *, baseline: bool) -> None:
    print(f"\n{title}")
    if not baseline:
        print(NO_BASELINE)
    print("| measurement | ours wall s | ours CPU s | reference wall s | reference CPU s | speed-up (CPU) | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for comparison in comparisons:
        print(comparison.row())


def _s(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"
