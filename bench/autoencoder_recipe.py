"""The end-to-end autoencoder test's recipe (tests/runtime/test_autoencoder_end_to_end.py) over several seeds: the
held-back clips' SI-SDR and multi-resolution STFT distance at the first and last demo rounds, so the test's
thresholds can be checked against every measured seed.

    OMP_NUM_THREADS=1 python bench/autoencoder_recipe.py --seeds 1 2 3 7 [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtime"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 7])
    parser.add_argument("--steps", type=int, default=None)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    from test_autoencoder_end_to_end import STEPS, train_recipe

    steps = arguments.steps or STEPS
    for seed in arguments.seeds:
        with tempfile.TemporaryDirectory() as folder:
            start = time.monotonic()
            metrics, _ = train_recipe(Path(folder), seed, steps)
            seconds = time.monotonic() - start
        first, last = metrics[0], metrics[-1]
        tail = sum(round["mrstft"] for round in metrics[-2:]) / 2
        print(
            f"seed {seed}: SI-SDR {first['sisdr']:.1f} -> {last['sisdr']:.1f} dB ({last['sisdr'] - first['sisdr']:+.1f}); "
            f"STFT {first['mrstft']:.2f} -> {last['mrstft']:.2f} (last two rounds {tail:.2f}, "
            f"{tail - first['mrstft']:+.2f}); rounds {[round['step'] for round in metrics]}; {seconds:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
