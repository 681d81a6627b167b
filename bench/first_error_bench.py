"""Time to the first error on broken configs: a cold `audiodiff validate` beside the reference's own path to an
error (import, build the model, one conditioned forward, as its training script does before the first step), in
the same run, alternating, each a fresh process.

Each case breaks one thing in `configs.SMALL_DIT`. Where the reference accepts the broken config without a word (a
misspelt key is ignored, so the run trains something else than asked), its column says so and the time is how long
it took to get there.

    python bench/first_error_bench.py [--repeats 3] [--no-reference]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from configs import SMALL_DIT
from reference import REPO, Comparison, Timing, interleave, print_table, reference_worker, run_fresh


def _typo(config: dict[str, Any]) -> None:
    dit = config["model"]["diffusion"]["config"]
    dit["depht"] = dit.pop("depth")


def _global_width(config: dict[str, Any]) -> None:
    config["model"]["diffusion"]["config"]["global_cond_dim"] = 500


def _unknown_id(config: dict[str, Any]) -> None:
    config["model"]["diffusion"]["cross_attention_cond_ids"][0] = "promt"


def _heads(config: dict[str, Any]) -> None:
    config["model"]["diffusion"]["config"]["num_heads"] = 7


CASES: dict[str, Callable[[dict[str, Any]], None]] = {
    "misspelt key (`depht`)": _typo,
    "global width 500 != 2 x 256": _global_width,
    "routing id `promt` not declared": _unknown_id,
    "7 heads do not divide 256": _heads,
}

# What the reference's training does before its first step, written against its public entry points.
REFERENCE_PATH_TO_ERROR = """
import json, sys, torch
config = json.load(open({path!r}))
try:
    from stable_audio_tools.models.factory import create_model_from_config
    model = create_model_from_config(config)
    cond = [{{"prompt": 0.5, "seconds_start": 0, "seconds_total": 30}}] * 2
    inputs = model.get_conditioning_inputs(model.conditioner(cond, "cpu"))
    model.model(torch.randn(2, model.io_channels, 64), torch.rand(2), **inputs)
    print("accepted: no error")
except Exception as error:
    print("error:", type(error).__name__, str(error).splitlines()[0][:80] if str(error) else "")
"""


def _our_cli() -> list[str]:
    return [sys.executable, "-m", "audiodiff"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPATH"] = str(REPO)
    comparisons = []
    with tempfile.TemporaryDirectory() as scratch, reference_worker(1, enabled=not arguments.no_reference) as reference:
        for number, (name, breaks) in enumerate(CASES.items()):
            config = copy.deepcopy(SMALL_DIT)
            breaks(config)
            path = Path(scratch) / f"case_{number}.json"
            path.write_text(json.dumps(config, indent=2))
            outcome: dict[str, str] = {}

            def ours(path: Path = path, outcome: dict[str, str] = outcome) -> Timing:
                timing, done = run_fresh([*_our_cli(), "validate", str(path)], cwd=REPO, env=environment)
                first = next(
                    (line for line in done.stdout.splitlines() + done.stderr.splitlines() if " error AD" in line),
                    "no error",
                )
                outcome["ours"] = first.split(" error ", 1)[-1][:40]
                return timing

            def theirs(path: Path = path, outcome: dict[str, str] = outcome) -> Timing:
                answer = reference.call("fresh_process", code=REFERENCE_PATH_TO_ERROR.format(path=str(path)))
                outcome["reference"] = answer["last_line"][:70]
                return Timing(answer["wall"], answer["cpu"])

            ours()  # warm the file and bytecode caches on both sides
            if reference is not None:
                theirs()
            comparison = interleave(
                Comparison(name), ours, theirs if reference is not None else None, arguments.repeats
            )
            comparison.note = f"ours: {outcome['ours']}; reference: {outcome.get('reference', '-')}"
            comparisons.append(comparison)
    print_table(
        "Cold time to the first error (fresh processes, median of alternating runs)",
        comparisons,
        baseline=reference is not None,
    )


if __name__ == "__main__":
    main()
