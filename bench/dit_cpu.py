"""CPU benchmark of the DiT backbone: one training step and one no-grad forward of a small conditioned DiT.

Model: embed 256, depth 4, 8 heads, io 64 channels, 256 latent frames, batch 4; three `number` conditioners
(256 wide) give 3 cross-attention tokens, and two of them the 512-wide global vector, as in Stable Audio's
seconds_start / seconds_total routing. A training step is: conditioners + DiT forward with CFG dropout 0.1,
v-objective MSE, backward, AdamW. Prints the median of N timed repetitions after warm-up, next to the figures
stable-audio-tools 0.0.19 gave for the same setup (measured separately; its blocks are always checkpointed).

    python bench/dit_cpu.py [--repeats 10] [--warmup 3] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from audiodiff.nn.conditioners import NumberConditioner
from audiodiff.nn.dit import DiffusionTransformer
from audiodiff.nn.routing import BackboneInputs, Guidance

REFERENCE_TRAIN_MS = 385.0  # stable-audio-tools 0.0.19: forward + backward + AdamW, checkpointing on
REFERENCE_FORWARD_MS = 83.0  # stable-audio-tools 0.0.19: no-grad forward

BATCH, FRAMES, IO, EMBED, DEPTH, HEADS, COND = 4, 256, 64, 256, 4, 8, 256


class Bench(nn.Module):
    """Three number conditioners routed like Stable Audio's, feeding the DiT."""

    def __init__(self, gradient_checkpointing: bool) -> None:
        super().__init__()
        self.conditioners = nn.ModuleDict(
            {
                "prompt": NumberConditioner(output_dim=COND, min_val=0.0, max_val=1.0),
                "seconds_start": NumberConditioner(output_dim=COND, min_val=0.0, max_val=512.0),
                "seconds_total": NumberConditioner(output_dim=COND, min_val=0.0, max_val=512.0),
            }
        )
        self.dit = DiffusionTransformer(
            io_channels=IO,
            embed_dim=EMBED,
            depth=DEPTH,
            num_heads=HEADS,
            cond_token_dim=COND,
            global_cond_dim=2 * COND,
            gradient_checkpointing=gradient_checkpointing,
        )

    def conditioning(self, metadata: dict[str, list[float]]) -> tuple[Tensor, Tensor]:
        tokens = {name: cond(metadata[name], "cpu")[0] for name, cond in self.conditioners.items()}  # [B, 1, D]
        cross = torch.cat([tokens["prompt"], tokens["seconds_start"], tokens["seconds_total"]], dim=1)  # [B, 3, D]
        glob = torch.cat([tokens["seconds_start"], tokens["seconds_total"]], dim=-1).squeeze(1)  # [B, 2D]
        return cross, glob


def _median_ms(fn: Callable[[], None], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def run(gradient_checkpointing: bool, warmup: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = Bench(gradient_checkpointing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    metadata = {
        "prompt": [0.1, 0.4, 0.7, 0.9],
        "seconds_start": [0.0, 10.0, 30.0, 100.0],
        "seconds_total": [30.0, 47.0, 95.0, 512.0],
    }
    x0 = torch.randn(BATCH, IO, FRAMES)

    def train_step() -> None:
        model.train()
        t = torch.rand(BATCH)
        alpha, sigma = torch.cos(t * math.pi / 2)[:, None, None], torch.sin(t * math.pi / 2)[:, None, None]
        noise = torch.randn_like(x0)
        cross, glob = model.conditioning(metadata)
        v = model.dit(alpha * x0 + sigma * noise, t, BackboneInputs(cross_attn_cond=cross, global_cond=glob),
                      Guidance(cfg_dropout_prob=0.1))
        loss = (v - (alpha * noise - sigma * x0)).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def forward() -> None:
        model.eval()
        with torch.no_grad():
            cross, glob = model.conditioning(metadata)
            model.dit(x0, torch.full((BATCH,), 0.5), BackboneInputs(cross_attn_cond=cross, global_cond=glob))

    return _median_ms(train_step, warmup, repeats), _median_ms(forward, warmup, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {BATCH}, {FRAMES} frames, "
          f"embed {EMBED}, depth {DEPTH}, {HEADS} heads; median of {args.repeats} after {args.warmup} warm-up")
    print(f"{'':34s}{'ours ms':>10s}{'reference ms':>14s}{'speed-up':>10s}")
    for checkpointing in (True, False):
        train_ms, forward_ms = run(checkpointing, args.warmup, args.repeats)
        label = "on" if checkpointing else "off"
        print(f"train step (checkpointing {label:3s})      {train_ms:10.1f}{REFERENCE_TRAIN_MS:14.1f}"
              f"{REFERENCE_TRAIN_MS / train_ms:9.2f}x")
        if checkpointing:
            print(f"no-grad forward                   {forward_ms:10.1f}{REFERENCE_FORWARD_MS:14.1f}"
                  f"{REFERENCE_FORWARD_MS / forward_ms:9.2f}x")


if __name__ == "__main__":
    main()
