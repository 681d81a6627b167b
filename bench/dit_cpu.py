"""CPU benchmark of a DiT training step and a no-grad forward, ours beside the reference in the same run.

Model: `configs.SMALL_DIT` (embed 256, depth 4, 8 heads, io 64), 256 latent frames, batch 4. A training step is:
conditioners + backbone forward with CFG dropout 0.1, v-objective MSE, backward, AdamW over the backbone. The
reference builds the same config with our weights (released layout, strict load) and runs the same step through
its own modules (its transformer blocks are always checkpointed in training); ours runs with checkpointing off (our
default for small models) and on. The sides alternate, one step each, `--repeats` times after `--warmup`.

    python bench/dit_cpu.py [--repeats 10] [--warmup 3] [--threads 1] [--frames 256] [--no-reference]
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from configs import SMALL_DIT
from reference import Comparison, Timing, interleave, print_table, reference_worker, timed

from audiodiff.compiler.materialize import BuildOptions, build_model
from audiodiff.nn.routing import Guidance
from audiodiff.runtime.checkpoints import write_released
from audiodiff.schema.validate import validate_data

BATCH = 4
METADATA = [
    {"prompt": p, "seconds_start": s, "seconds_total": t}
    for p, s, t in ((0.1, 0.0, 30.0), (0.4, 10.0, 47.0), (0.7, 30.0, 95.0), (0.9, 100.0, 512.0))
]


def our_steps(
    spec, *, checkpointing: bool, frames: int, batch: int
) -> tuple[Callable[[], Timing], Callable[[], Timing]]:
    """(train step, no-grad forward) of our model built from the config, each returning its Timing."""
    torch.manual_seed(0)
    model = build_model(spec, BuildOptions(gradient_checkpointing=checkpointing))
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=1e-4)
    metadata = (METADATA * batch)[:batch]
    x0 = torch.randn(batch, model.io_channels, frames)

    def train_step() -> Timing:
        model.train()
        with timed() as box:
            t = torch.rand(batch)
            alpha, sigma = torch.cos(t * math.pi / 2)[:, None, None], torch.sin(t * math.pi / 2)[:, None, None]
            noise = torch.randn_like(x0)
            cond = model.conditioning_tensors(metadata, "cpu")
            v = model(alpha * x0 + sigma * noise, t, cond, guidance=Guidance(cfg_dropout_prob=0.1))
            loss = (v - (alpha * noise - sigma * x0)).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return box[0]

    def forward() -> Timing:
        model.eval()
        with torch.no_grad(), timed() as box:
            model(x0, torch.full((batch,), 0.5), model.conditioning_tensors(metadata, "cpu"))
        return box[0]

    return train_step, forward


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on each side (default 1)")
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--no-reference", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    config = copy.deepcopy(SMALL_DIT)
    config["sample_size"] = arguments.frames
    result = validate_data(config)
    assert result.ok, result.diagnostics
    metadata = (METADATA * arguments.batch)[: arguments.batch]
    print(
        f"torch {torch.__version__}, {arguments.threads} thread(s) each side; batch {arguments.batch}, "
        f"{arguments.frames} frames; median of {arguments.repeats} alternating steps after {arguments.warmup}"
    )
    comparisons = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        reference_worker(arguments.threads, enabled=not arguments.no_reference) as reference,
    ):
        theirs_train = theirs_forward = None
        if reference is not None:
            torch.manual_seed(0)
            weights = Path(scratch) / "dit.safetensors"
            write_released(weights, build_model(result.spec).state_dict(), config=config, schema_version=1)
            reference.call("build", name="dit", config=config, weights=str(weights))

            def theirs_train() -> Timing:
                answer = reference.call(
                    "train_step", name="dit", batch=arguments.batch, frames=arguments.frames, conditioning=metadata
                )
                return Timing(answer["wall"], answer["cpu"])

            def theirs_forward() -> Timing:
                answer = reference.call(
                    "forward", name="dit", batch=arguments.batch, frames=arguments.frames, conditioning=metadata
                )
                return Timing(answer["wall"], answer["cpu"])

        for checkpointing in (False, True):
            train, forward = our_steps(
                result.spec, checkpointing=checkpointing, frames=arguments.frames, batch=arguments.batch
            )
            for _ in range(arguments.warmup):
                train()
                if theirs_train is not None:
                    theirs_train()
            label = "on" if checkpointing else "off"
            comparisons.append(
                interleave(
                    Comparison(f"train step (ours: checkpointing {label})"), train, theirs_train, arguments.repeats
                )
            )
            if not checkpointing:
                forward()
                comparisons.append(
                    interleave(Comparison("no-grad forward"), forward, theirs_forward, arguments.repeats)
                )
        print_table("DiT on CPU (median of alternating runs)", comparisons, baseline=reference is not None)


if __name__ == "__main__":
    main()
