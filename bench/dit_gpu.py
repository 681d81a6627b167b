"""GPU benchmark: one training step of the Stable Audio Open 1.0 DiT backbone, in several execution variants.

Model: embed 1536, depth 24, 24 heads, 64 io channels, 768-wide cross-attention tokens kept unprojected (grouped
K/V heads), a 1536-wide global vector (prepended token), batch 8, 128 cross-attention tokens; 1024 and 256 latent
frames. A step is: DiT forward under bf16 autocast with CFG dropout 0.1, v-objective MSE, backward, fused AdamW.

Variants (each timed as the median of `--repeats` steps after warm-up, with CUDA events):
  eager, checkpointing on     blocks recomputed in backward (what stable-audio-tools always does)
  eager, checkpointing off
  compiled, checkpointing off every transformer block compiled with torch.compile (regional compilation)
  compiled + CUDA graph       the whole step (forward, backward, AdamW) captured once and replayed; short sequence

Printed per variant: ms/step, latent frames/s, model TFLOP/s (FLOP model below; recomputation is not counted),
MFU against a bf16 matmul measured in the same run, and peak memory. Then a sampling step (no grad, CFG 6 over a
doubled batch). When the reference's environment is present (bench/README.md), its backbone runs the same training
step (its default: checkpointed blocks) and sampling step on the same card in the same run, right after ours, and
the ratios are printed; otherwise the figures typed below from an earlier run stand in (stable-audio-tools 0.0.19 on
one H100: 1024 frames 297.6 / 226.2 / 156.8 ms checkpointing on / off / torch.compile, 256 frames
262.2 / 141.4 / 128.6 ms).

    python bench/dit_gpu.py                 # the real run (one H100: a few minutes)
    python bench/dit_gpu.py --dry-run       # a tiny config on CPU, to check that the script runs

FLOP model (matmul FLOPs only; one multiply-add = 2 FLOPs; per batch item, N = frames + 1 tokens with the
global token, M cross tokens, E width, F = 4E feed-forward width, C = context width, D = depth):
  per block:  self-attention QKV + out       2·N·E·3E + 2·N·E·E        = 8·N·E²
              self-attention scores + mix    2·N·N·E + 2·N·N·E         = 4·N²·E
              cross-attention Q + out        2·N·E·E + 2·N·E·E         = 4·N·E²
              cross-attention KV             2·M·C·2C                  = 4·M·C²
              cross-attention scores + mix   4·N·M·E
              SwiGLU feed-forward            2·N·E·2F + 2·N·F·E        = 24·N·E²
  outside:    project in/out                 2·N·E·(C_in + C_io)
              conditioning MLPs              2·M·(c·C + C²) + 2·(g·E + E²) + 2·(256·E + E²)
              pre/post 1x1 convs             2·L·(C_in² + C_io²)
  training step = 3 × forward (backward = 2 × forward).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from reference import reference_worker

from audiodiff.nn.dit import DiffusionTransformer
from audiodiff.nn.routing import BackboneInputs, Guidance

REFERENCE_MS = {
    1024: {"ckpt on": 297.6, "ckpt off": 226.2, "compiled": 156.8},
    256: {"ckpt on": 262.2, "ckpt off": 141.4, "compiled": 128.6},
}
AIM_MS = {1024: 110.0, 256: 50.0}


@dataclass(frozen=True)
class Shape:
    io: int = 64
    embed: int = 1536
    depth: int = 24
    heads: int = 24
    cond_tokens: int = 128
    cond_dim: int = 768  # unprojected: the context stays 768 wide
    global_dim: int = 1536
    batch: int = 8


def forward_flops(s: Shape, frames: int) -> float:
    """Matmul FLOPs of one forward pass over the batch (see the module docstring)."""
    n, m, e, c, f = frames + 1, s.cond_tokens, s.embed, s.cond_dim, 4 * s.embed
    self_attention = 8 * n * e * e + 4 * n * n * e
    cross_attention = 4 * n * e * e + 4 * m * c * c + 4 * n * m * e
    feed_forward = 2 * n * e * 2 * f + 2 * n * f * e
    block = self_attention + cross_attention + feed_forward
    outside = (
        2 * n * e * (s.io + s.io)
        + 2 * m * (c * c + c * c)
        + 2 * (s.global_dim * e + e * e)
        + 2 * (256 * e + e * e)
        + 2 * frames * (s.io * s.io * 2)
    )
    return float(s.batch * (s.depth * block + outside))


def matmul_tflops(device: torch.device, size: int, repeats: int) -> float:
    """Achieved bf16 matmul throughput, the yardstick for MFU."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        times.append(_time_ms(lambda: a @ b, device))
    return 2 * size**3 / (statistics.median(times) / 1e3) / 1e12


def _time_ms(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)
    begin = time.perf_counter()
    fn()
    return (time.perf_counter() - begin) * 1e3


class Trainer:
    """Model, fused AdamW and static input buffers; `step()` is one full training step."""

    def __init__(self, s: Shape, device: torch.device) -> None:
        self.s, self.device = s, device
        with torch.device(device):
            self.model = DiffusionTransformer(
                io_channels=s.io,
                embed_dim=s.embed,
                depth=s.depth,
                num_heads=s.heads,
                cond_token_dim=s.cond_dim,
                project_cond_tokens=False,
                global_cond_dim=s.global_dim,
            ).train()
        cuda = device.type == "cuda"
        # capturable keeps the step counter on the GPU, so the same optimizer works inside a CUDA graph
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-5, fused=True, capturable=cuda)
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16)
        self.inputs: dict[int, dict[str, torch.Tensor]] = {}

    def buffers(self, frames: int) -> dict[str, torch.Tensor]:
        if frames not in self.inputs:
            s, d = self.s, self.device
            self.inputs[frames] = dict(
                x0=torch.randn(s.batch, s.io, frames, device=d),
                cross=torch.randn(s.batch, s.cond_tokens, s.cond_dim, device=d),
                glob=torch.randn(s.batch, s.global_dim, device=d),
            )
        return self.inputs[frames]

    def step(self, frames: int) -> torch.Tensor:
        b = self.buffers(frames)
        x0 = b["x0"]
        t = torch.rand(x0.shape[0], device=x0.device)
        alpha, sigma = torch.cos(t * math.pi / 2)[:, None, None], torch.sin(t * math.pi / 2)[:, None, None]
        noise = torch.randn_like(x0)
        with self.autocast:
            inputs = BackboneInputs(cross_attn_cond=b["cross"], global_cond=b["glob"])
            v = self.model(alpha * x0 + sigma * noise, t, inputs, Guidance(cfg_dropout_prob=0.1))
        loss = F.mse_loss(v.float(), alpha * noise - sigma * x0)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=False)
        return loss.detach()


def measure(
    name: str, fn: Callable[[], object], trainer: Trainer, frames: int, warmup: int, repeats: int, peak_tflops: float
) -> None:
    device = trainer.device
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        fn()
    ms = statistics.median(_time_ms(fn, device) for _ in range(repeats))
    tflops = 3 * forward_flops(trainer.s, frames) / (ms / 1e3) / 1e12
    frames_per_s = trainer.s.batch * frames / (ms / 1e3)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    reference = REFERENCE_MS.get(frames, {}).get(name.split(",")[-1].strip(), float("nan"))
    print(
        f"{frames:6d}  {name:32s}{ms:9.1f}{frames_per_s:12.0f}{tflops:9.1f}{100 * tflops / peak_tflops:7.1f}%"
        f"{peak:9.1f}{reference:11.1f}",
        flush=True,
    )


def cuda_graph_step(trainer: Trainer, frames: int) -> Callable[[], object]:
    """Capture one whole training step (forward, backward, AdamW) in a CUDA graph; return its replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            trainer.step(frames)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        trainer.step(frames)
    return graph.replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny config on CPU, to check the script runs")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--frames", type=int, nargs="+", default=[1024, 256])
    parser.add_argument("--budget-s", type=float, default=270.0, help="skip variants once this much time passed")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--no-reference", action="store_true", help="do not run the reference beside ours")
    args = parser.parse_args()

    began = time.perf_counter()
    if args.dry_run:
        device = torch.device("cpu")
        shape = Shape(io=8, embed=64, depth=2, heads=2, cond_tokens=8, cond_dim=32, global_dim=64, batch=2)
        frames_list, args.repeats, args.warmup = [32, 16], 2, 1
        compile_ok = False
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: use --dry-run to check the script on CPU")
        device = torch.device("cuda")
        shape, frames_list = Shape(), args.frames
        compile_ok = not args.no_compile
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    peak = matmul_tflops(device, 256 if args.dry_run else 8192, 3 if args.dry_run else 20)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    trainer = Trainer(shape, device)
    params = sum(p.numel() for p in trainer.model.parameters())
    print(
        f"{name}; torch {torch.__version__}; DiT {params / 1e6:.1f} M parameters; batch {shape.batch}; "
        f"bf16 matmul {peak:.0f} TFLOP/s measured"
    )
    print(
        f"{'frames':>6s}  {'variant':32s}{'ms/step':>9s}{'frames/s':>12s}{'TFLOP/s':>9s}{'MFU':>8s}"
        f"{'peak GiB':>9s}{'ref ms':>11s}"
    )

    def run(variant: str, frames: int, fn: Callable[[], object]) -> None:
        if time.perf_counter() - began > args.budget_s:
            print(f"{frames:6d}  {variant:32s} skipped: time budget spent", flush=True)
            return
        try:
            measure(variant, fn, trainer, frames, args.warmup, args.repeats, peak)
        except Exception as error:  # one failing variant must not hide the others
            print(f"{frames:6d}  {variant:32s} failed: {type(error).__name__}: {error}", flush=True)
            traceback.print_exc(limit=3)

    for frames in frames_list:
        for checkpointing in (True, False):
            trainer.model.gradient_checkpointing = checkpointing
            run(f"eager, ckpt {'on' if checkpointing else 'off'}", frames, lambda f=frames: trainer.step(f))
    trainer.model.gradient_checkpointing = False
    if compile_ok:
        for layer in trainer.model.transformer.layers:
            layer.compile()  # regional compilation: one compiled block reused by all 24
        for frames in frames_list:
            run("compiled", frames, lambda f=frames: trainer.step(f))
        if device.type == "cuda":
            short = min(frames_list)
            try:
                replay = cuda_graph_step(trainer, short)
            except Exception as error:
                print(f"{short:6d}  {'compiled + CUDA graph':32s} capture failed: {type(error).__name__}: {error}")
            else:
                run("compiled + CUDA graph", short, replay)
    sampling = {frames: sampling_step_ms(trainer, frames, args.warmup, args.repeats) for frames in frames_list}
    for frames, ms in sampling.items():
        print(f"{frames:6d}  {'sampling step (CFG 6, no grad)':32s}{ms:9.1f}")
    same_run(trainer, shape, frames_list, device, args, sampling)
    for frames in frames_list:
        print(f"aim at {frames} frames: {AIM_MS.get(frames, float('nan')):.0f} ms or less")
    print(f"total {time.perf_counter() - began:.0f} s")


def sampling_step_ms(trainer: Trainer, frames: int, warmup: int, repeats: int) -> float:
    """One sampling step of ours: no grad, bf16, CFG 6 over a doubled batch (conditional and unconditional)."""
    model, b = trainer.model.eval(), trainer.buffers(frames)
    t = torch.full((trainer.s.batch,), 0.5, device=trainer.device)

    def step() -> None:
        with torch.no_grad(), trainer.autocast:
            inputs = BackboneInputs(cross_attn_cond=b["cross"], global_cond=b["glob"])
            model(b["x0"], t, inputs, Guidance(cfg_scale=6.0))

    for _ in range(warmup):
        step()
    ms = statistics.median(_time_ms(step, trainer.device) for _ in range(repeats))
    model.train()
    return ms


def same_run(
    trainer: Trainer,
    shape: Shape,
    frames_list: list[int],
    device: torch.device,
    args: argparse.Namespace,
    sampling: dict[int, float],
) -> None:
    """The reference's backbone on the same device in the same run: its default training step and a sampling step,
    beside ours (eager, checkpointing on; then our best eager variant)."""
    with reference_worker(torch.get_num_threads(), enabled=not args.no_reference) as reference:
        if reference is None:
            print("reference: no baseline measured in this run (make bench-env); the typed figures above stand in")
            return
        dims = {
            "io": shape.io,
            "embed": shape.embed,
            "depth": shape.depth,
            "heads": shape.heads,
            "cond_tokens": shape.cond_tokens,
            "cond_dim": shape.cond_dim,
            "global_dim": shape.global_dim,
            "batch": shape.batch,
        }
        reference.call("backbone", name="dit", shape=dims, device=str(device))
        print(f"{'frames':>6s}  {'same run':32s}{'ours ms':>9s}{'ref ms':>9s}{'speed-up':>10s}")
        for frames in frames_list:
            trainer.model.gradient_checkpointing = False
            ours = statistics.median(
                _time_ms(lambda frames=frames: trainer.step(frames), device) for _ in range(args.repeats)
            )
            theirs = reference.call(
                "backbone_step_ms",
                name="dit",
                shape=dims,
                frames=frames,
                device=str(device),
                warmup=args.warmup,
                repeats=args.repeats,
                training=True,
            )["ms"]
            print(f"{frames:6d}  {'train step (ours ckpt off)':32s}{ours:9.1f}{theirs:9.1f}{theirs / ours:9.2f}x")
            theirs = reference.call(
                "backbone_step_ms",
                name="dit",
                shape=dims,
                frames=frames,
                device=str(device),
                warmup=args.warmup,
                repeats=args.repeats,
                training=False,
            )["ms"]
            print(
                f"{frames:6d}  {'sampling step':32s}{sampling[frames]:9.1f}{theirs:9.1f}"
                f"{theirs / sampling[frames]:9.2f}x"
            )


if __name__ == "__main__":
    main()
