"""Sampling throughput on CPU: the small DiT of `bench/dit_cpu.py` (embed 256, depth 4, 8 heads, io 64), batch 4 x
256 latent frames, 50 steps, CFG 6 (one doubled batch per step), DPM++ 2M SDE and v-DDIM.

The model is built from a config through the whole pipeline (validate -> compile -> materialize), and sampled
with `audiodiff.runtime.generate`, as `audiodiff sample` does. Prints the median of a few runs next to the figures
stable-audio-tools 0.0.19 gave on the 2-core reference machine (torch 2.13), and their ratio.

    python bench/sampling_bench.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from audiodiff.compiler.materialize import build_model
from audiodiff.runtime.generate import SampleRequest, generate, plan
from audiodiff.schema.validate import validate_data

REFERENCE_SECONDS = {"dpmpp-2m-sde": 9.76, "v-ddim": 8.75}

CONFIG = {
    "model_type": "diffusion_cond",
    "sample_rate": 44100,
    "sample_size": 256,
    "audio_channels": 2,
    "model": {
        "io_channels": 64,
        "conditioning": {"cond_dim": 256, "configs": [
            {"id": "prompt", "type": "number", "config": {"min_val": 0, "max_val": 1}},
            {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
            {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
        ]},
        "diffusion": {
            "type": "dit",
            "cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
            "global_cond_ids": ["seconds_start", "seconds_total"],
            "config": {"io_channels": 64, "embed_dim": 256, "depth": 4, "num_heads": 8, "cond_token_dim": 256,
                       "global_cond_dim": 512, "transformer_type": "continuous_transformer"},
        },
    },
    "training": {"pre_encoded": True, "learning_rate": 1e-4,
                 "demo": {"num_demos": 1, "demo_cfg_scales": [6],
                          "demo_cond": [{"prompt": 0.5, "seconds_start": 0, "seconds_total": 30}]}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    result = validate_data(CONFIG)
    assert result.ok, result.diagnostics
    torch.manual_seed(0)
    model = build_model(result.spec).eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch 4 x 256 frames, 50 steps, CFG 6")
    print(f"{'sampler':<14} {'ours (s)':>9} {'reference (s)':>14} {'ratio':>7}")
    for sampler, reference in REFERENCE_SECONDS.items():
        request = SampleRequest(steps=50, cfg_scale=6.0, sampler=sampler, seed=0, batch=4,
                                cond={"prompt": 0.5, "seconds_start": 0, "seconds_total": 30})
        the_plan = plan(result.spec, request)
        generate(model, result.spec, request, the_plan)  # warm-up
        times = []
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            generate(model, result.spec, request, the_plan)
            times.append(time.perf_counter() - start)
        ours = statistics.median(times)
        print(f"{sampler:<14} {ours:>9.2f} {reference:>14.2f} {reference / ours:>6.2f}x")


if __name__ == "__main__":
    main()
