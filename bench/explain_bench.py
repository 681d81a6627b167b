"""`compile --explain` latency on the Stable Audio 2.0 config against building the same modules on CPU.

The explanation (graph, shapes, parameter counts, memory estimate) needs no weights; the baseline allocates and
initialises all 1.2 B parameters the way a training or sampling run has to before it can say anything. Both are
measured in this run and the ratio is printed. The config comes from the shared stable-audio-tools corpus when it
is present, else a Stable Audio Open 1.0-sized stand-in is used.

    python bench/explain_bench.py [--repeats 5] [--skip-build]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "corpus" / "sat" / "txt2audio__stable_audio_2_0.json"


def config() -> dict:
    if SHARED.is_file():
        data = json.loads(SHARED.read_text())
        # the CLAP conditioner needs an optional package and a checkpoint to build: the baseline builds a `number`
        # stand-in with the same id, as the reference's layout file does
        data["model"]["conditioning"]["configs"][0] = {"id": "prompt", "type": "number",
                                                       "config": {"min_val": 0, "max_val": 1}}
        return data
    sys.path.insert(0, str(ROOT / "tests" / "compiler"))
    from test_explain import _stable_audio_sized

    return _stable_audio_sized()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-build", action="store_true", help="only time the explanation")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stable_audio_2_0.json"
        path.write_text(json.dumps(config()))
        command = [sys.executable, "-m", "audiodiff", "compile", str(path), "--explain"]
        times = []
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        explain = statistics.median(times)
        print(f"compile --explain (fresh process, median of {arguments.repeats}): {explain:.3f} s")
        if arguments.skip_build:
            return
        from audiodiff.compiler.materialize import build_model
        from audiodiff.compiler.pipeline import check_file

        check = check_file(path, check_paths=False)
        start = time.perf_counter()
        model = build_model(check.spec)
        build = time.perf_counter() - start
        parameters = sum(p.numel() for p in model.parameters())
        print(f"building the modules on CPU ({parameters:,} parameters): {build:.2f} s")
        print(f"explain is {build / explain:.1f}x faster than building the model")


if __name__ == "__main__":
    main()
