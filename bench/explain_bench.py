"""`compile --explain` on the Stable Audio 2.0 config beside what the reference must do to say as much: build the
model (allocating and initialising all 1.2 B parameters) and count, in the same run, alternating, fresh processes.

Ours also builds the same modules in-process as a second baseline. The config comes from the shared
stable-audio-tools corpus when it is present, else a Stable Audio Open 1.0-sized stand-in is used; its CLAP
conditioner (an optional package and an external checkpoint) is replaced by a `number` stand-in on both sides.

    python bench/explain_bench.py [--repeats 3] [--skip-build] [--no-reference] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from reference import REPO, Comparison, Timing, interleave, print_table, reference_worker, run_fresh

SHARED = REPO.parent / "shared" / "corpus" / "sat" / "txt2audio__stable_audio_2_0.json"

REFERENCE_BUILD_AND_COUNT = """
import json
from stable_audio_tools.models.factory import create_model_from_config
model = create_model_from_config(json.load(open({path!r})))
print(sum(p.numel() for p in model.parameters()))
"""


def config(tiny: bool) -> dict:
    if tiny:
        from configs import SMALL_DIT

        return SMALL_DIT
    if SHARED.is_file():
        data = json.loads(SHARED.read_text())
        data["model"]["conditioning"]["configs"][0] = {
            "id": "prompt",
            "type": "number",
            "config": {"min_val": 0, "max_val": 1},
        }
        for demo in data.get("training", {}).get("demo", {}).get("demo_cond", []):
            demo["prompt"] = 0.5  # the stand-in reads numbers
        return data
    sys.path.insert(0, str(REPO / "tests" / "compiler"))
    from test_explain import _stable_audio_sized

    return _stable_audio_sized()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-build", action="store_true", help="do not build our modules in-process")
    parser.add_argument("--no-reference", action="store_true", help="measure ours only")
    parser.add_argument("--tiny", action="store_true", help="a small config instead (for smoke tests)")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, reference_worker(1, enabled=not arguments.no_reference) as reference:
        path = Path(folder) / "model.json"
        path.write_text(json.dumps(config(arguments.tiny)))
        command = [sys.executable, "-m", "audiodiff", "compile", str(path), "--explain"]
        counted: dict[str, str] = {}

        def ours() -> Timing:
            timing, done = run_fresh(command, cwd=REPO)
            assert done.returncode == 0, done.stderr
            counted["ours"] = next(
                line for line in done.stdout.splitlines() if line.strip().startswith("total ")
            ).split()[-1]
            return timing

        def theirs() -> Timing:
            answer = reference.call("fresh_process", code=REFERENCE_BUILD_AND_COUNT.format(path=str(path)))
            counted["reference"] = f"{int(answer['last_line']):,}" if answer["last_line"].isdigit() else "?"
            return Timing(answer["wall"], answer["cpu"])

        comparison = interleave(
            Comparison("explain (ours) vs build and count (reference)"),
            ours,
            theirs if reference is not None else None,
            arguments.repeats,
        )
        comparison.note = f"parameters: ours {counted['ours']}, reference {counted.get('reference', '-')}"
        print_table(
            "Parameter counts without weights (fresh processes, median of alternating runs)",
            [comparison],
            baseline=reference is not None,
        )
        if arguments.skip_build:
            return
        from audiodiff.compiler.materialize import build_model
        from audiodiff.compiler.pipeline import check_file

        check = check_file(path, check_paths=False)
        start = time.perf_counter()
        model = build_model(check.spec)
        build = time.perf_counter() - start
        parameters = sum(p.numel() for p in model.parameters())
        explain = min(t.wall for t in comparison.ours)
        print(
            f"\nbuilding our modules on CPU in-process ({parameters:,} parameters): {build:.2f} s; "
            f"explain (fresh process, best) {explain:.2f} s: {build / explain:.1f}x faster"
        )


if __name__ == "__main__":
    main()
