"""Sampling throughput on CPU, ours beside the reference in the same run: the small DiT of `bench/dit_cpu.py`
(embed 256, depth 4, 8 heads, io 64), batch 4 x 256 latent frames, 50 steps, CFG 6 (one doubled batch per step),
DPM++ 2M SDE and v-DDIM.

Our model is built from the config through the whole pipeline (validate -> compile -> materialize) and sampled
with `audiodiff.runtime.generate`, as `audiodiff sample` does; its weights are written in the released layout and
loaded strictly by the reference (`bench/reference.py`), which samples with its `generate_diffusion_cond`. The two
alternate, one take each, `--repeats` times.

    python bench/sampling_bench.py [--repeats 3] [--threads 1] [--frames 256] [--steps 50] [--no-reference]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch
from configs import SMALL_DIT as CONFIG
from reference import Comparison, Timing, interleave, print_table, reference_worker, timed

from audiodiff.compiler.materialize import build_model
from audiodiff.runtime.checkpoints import write_released
from audiodiff.runtime.generate import SampleRequest, generate, plan
from audiodiff.schema.validate import validate_data

SAMPLERS = ("dpmpp-2m-sde", "v-ddim")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on each side (default 1)")
    parser.add_argument("--frames", type=int, default=256, help="latent frames per clip")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--no-reference", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    config = copy.deepcopy(CONFIG)
    config["sample_size"] = arguments.frames
    result = validate_data(config)
    assert result.ok, result.diagnostics
    torch.manual_seed(0)
    model = build_model(result.spec).eval()
    print(
        f"torch {torch.__version__}, {arguments.threads} thread(s) each side; batch {arguments.batch} x "
        f"{arguments.frames} frames, {arguments.steps} steps, CFG 6"
    )
    conditioning = [{"prompt": 0.5, "seconds_start": 0, "seconds_total": 30}] * arguments.batch
    comparisons = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        reference_worker(arguments.threads, enabled=not arguments.no_reference) as reference,
    ):
        if reference is not None:
            weights = Path(scratch) / "dit.safetensors"
            write_released(weights, model.state_dict(), config=config, schema_version=1)
            reference.call("build", name="dit", config=config, weights=str(weights))
        for sampler in SAMPLERS:
            request = SampleRequest(
                steps=arguments.steps,
                cfg_scale=6.0,
                sampler=sampler,
                seed=0,
                batch=arguments.batch,
                cond=conditioning[0],
            )
            the_plan = plan(result.spec, request)

            def ours(request: SampleRequest = request, the_plan=the_plan) -> Timing:
                with timed() as box:
                    generate(model, result.spec, request, the_plan)
                return box[0]

            def theirs(sampler: str = sampler) -> Timing:
                answer = reference.call(
                    "sample",
                    name="dit",
                    sampler=sampler,
                    steps=arguments.steps,
                    cfg_scale=6.0,
                    batch=arguments.batch,
                    audio_samples=arguments.frames,
                    seed=0,
                    conditioning=conditioning,
                )
                return Timing(answer["wall"], answer["cpu"])

            ours()  # warm-up, both sides
            if reference is not None:
                theirs()
            comparisons.append(
                interleave(
                    Comparison(f"sampling, {sampler}"),
                    ours,
                    theirs if reference is not None else None,
                    arguments.repeats,
                )
            )
        print_table("CPU sampling (median of alternating runs)", comparisons, baseline=reference is not None)


if __name__ == "__main__":
    main()
