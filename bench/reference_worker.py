"""The reference's side of the benches: run by the reference environment's interpreter (never by audiodiff's), it
reads one JSON task per line on stdin and answers one JSON line on stdout.

Only stable-audio-tools' public entry points are called (`create_model_from_config`, `generate_diffusion_cond`,
the model's own modules), with the same weights as ours (loaded strictly from the released layout that audiodiff
writes), the same shapes and the same number of torch threads.

    python reference_worker.py THREADS    (started by bench/reference.py)
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import resource
import subprocess
import sys
import time

import torch

MODELS: dict[str, torch.nn.Module] = {}


def _timing(wall: float, cpu: float, **extra):
    return {"wall": wall, "cpu": cpu, **extra}


class _Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall_s = time.perf_counter() - self.wall
        self.cpu_s = time.process_time() - self.cpu


def build(name: str, config: dict, weights: str | None = None) -> dict:
    from stable_audio_tools.models.factory import create_model_from_config

    torch.manual_seed(0)
    model = create_model_from_config(config)
    if weights:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(weights), strict=True)
    model.eval()
    MODELS[name] = model
    return {"parameters": sum(p.numel() for p in model.parameters())}


def sample(
    name: str,
    sampler: str,
    steps: int,
    cfg_scale: float,
    batch: int,
    audio_samples: int,
    seed: int,
    conditioning: list[dict],
) -> dict:
    from stable_audio_tools.inference.generation import generate_diffusion_cond

    model = MODELS[name]
    with contextlib.redirect_stdout(io.StringIO()), torch.inference_mode(), _Clock() as clock:
        audio = generate_diffusion_cond(
            model,
            steps=steps,
            cfg_scale=cfg_scale,
            conditioning=conditioning,
            batch_size=batch,
            sample_size=audio_samples,
            seed=seed,
            device="cpu",
            sampler_type=sampler,
        )
    return _timing(clock.wall_s, clock.cpu_s, rms=float(audio.float().pow(2).mean().sqrt()))


def train_step(name: str, batch: int, frames: int, conditioning: list[dict], repeats: int = 1) -> dict:
    """Conditioners + backbone forward with CFG dropout 0.1, v-objective MSE, backward, AdamW: one step."""
    model = MODELS[name]
    model.train()
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=1e-4)
    x0 = torch.randn(batch, model.io_channels, frames)
    timings = []
    for _ in range(repeats):
        with _Clock() as clock:
            t = torch.rand(batch)
            alpha, sigma = torch.cos(t * math.pi / 2)[:, None, None], torch.sin(t * math.pi / 2)[:, None, None]
            noise = torch.randn_like(x0)
            inputs = model.get_conditioning_inputs(model.conditioner(conditioning, "cpu"))
            v = model.model(alpha * x0 + sigma * noise, t, cfg_dropout_prob=0.1, **inputs)
            loss = (v - (alpha * noise - sigma * x0)).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        timings.append((clock.wall_s, clock.cpu_s))
    model.eval()
    wall, cpu = timings[-1]
    return _timing(wall, cpu)


def forward(name: str, batch: int, frames: int, conditioning: list[dict]) -> dict:
    """A no-grad forward of the backbone with the conditioners, at t = 0.5."""
    model = MODELS[name]
    model.eval()
    x = torch.randn(batch, model.io_channels, frames)
    with torch.no_grad(), _Clock() as clock:
        inputs = model.get_conditioning_inputs(model.conditioner(conditioning, "cpu"))
        model.model(x, torch.full((batch,), 0.5), **inputs)
    return _timing(clock.wall_s, clock.cpu_s)


def decode(name: str, latents_shape: list[int], seed: int, chunked: bool, chunk_size: int, overlap: int) -> dict:
    model = MODELS[name]
    latents = torch.randn(*latents_shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode(), _Clock() as clock:
        audio = model.decode_audio(latents, chunked=chunked, chunk_size=chunk_size, overlap=overlap)
    return _timing(clock.wall_s, clock.cpu_s, samples=int(audio.shape[-1]))


def backbone(name: str, shape: dict, device: str) -> dict:
    """The reference's DiT backbone alone, with the bench's dimensions, on `device` (random weights: timing only)."""
    from stable_audio_tools.models.dit import DiffusionTransformer

    torch.manual_seed(0)
    with torch.device(device):
        model = DiffusionTransformer(
            io_channels=shape["io"],
            embed_dim=shape["embed"],
            depth=shape["depth"],
            num_heads=shape["heads"],
            cond_token_dim=shape["cond_dim"],
            project_cond_tokens=False,
            global_cond_dim=shape["global_dim"],
        )
    MODELS[name] = model
    return {"parameters": sum(p.numel() for p in model.parameters())}


def _median_ms(fn, device: str, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            begin = time.perf_counter()
            fn()
            times.append((time.perf_counter() - begin) * 1e3)
    return sorted(times)[len(times) // 2]


def backbone_step_ms(
    name: str, shape: dict, frames: int, device: str, warmup: int, repeats: int, training: bool
) -> dict:
    """Median ms of a bf16-autocast training step (fused AdamW, CFG dropout 0.1, v-MSE; the reference's blocks
    are checkpointed in training as its own trainer runs them) or of one sampling step (no grad, CFG 6 over a
    doubled batch, as its samplers call the model)."""
    model = MODELS[name]
    batch = shape["batch"]
    x0 = torch.randn(batch, shape["io"], frames, device=device)
    cross = torch.randn(batch, shape["cond_tokens"], shape["cond_dim"], device=device)
    glob = torch.randn(batch, shape["global_dim"], device=device)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    if training:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.startswith("cuda"))

        def step():
            t = torch.rand(batch, device=device)
            alpha, sigma = torch.cos(t * math.pi / 2)[:, None, None], torch.sin(t * math.pi / 2)[:, None, None]
            noise = torch.randn_like(x0)
            with autocast:
                v = model(alpha * x0 + sigma * noise, t, cross_attn_cond=cross, global_embed=glob, cfg_dropout_prob=0.1)
            loss = torch.nn.functional.mse_loss(v.float(), alpha * noise - sigma * x0)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                model(
                    x0,
                    torch.full((batch,), 0.5, device=device),
                    cross_attn_cond=cross,
                    global_embed=glob,
                    cfg_scale=6.0,
                )

    return {"ms": _median_ms(step, device, warmup, repeats)}


def fresh_process(code: str) -> dict:
    """Run `code` in a new interpreter of this environment: wall time and the child's CPU time, its last line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.strip().splitlines() or [""]
    return _timing(wall, cpu, returncode=done.returncode, last_line=lines[-1][:300])


TASKS = {
    "build": build,
    "sample": sample,
    "train_step": train_step,
    "forward": forward,
    "decode": decode,
    "backbone": backbone,
    "backbone_step_ms": backbone_step_ms,
    "fresh_process": fresh_process,
}


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]))
    answers, sys.stdout = sys.stdout, sys.stderr  # the reference prints as it works: keep stdout for answers
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = TASKS[request["task"]](**request["arguments"])
            answer = {"result": result}
        except Exception as error:  # the bench reports it; the worker keeps serving
            answer = {"error": f"{type(error).__name__}: {error}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
