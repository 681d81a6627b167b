"""Checks of a sampling request before anything is allocated, and the honest report of what came out.

Up front: every number on the command line is range-checked (NaN and infinities refused), a conditioner given twice
is refused, the device is checked against what torch reports, and the memory sampling needs is estimated from the
spec and compared with what the device has free, with the longest length that would fit. After sampling: samples
beyond full scale are counted (they are clipped when written), and `--normalize` scales each clip to peak 1 instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.v1.root import ModelConfig

if TYPE_CHECKING:
    from audiodiff.compiler.params import ModelCounts

COMMAND_LINE = "command line"
MAX_STEPS = 10_000  # a sampler's step count: far beyond any schedule's use, and bounded work
MAX_BATCH = 1024
MAX_CFG_SCALE = 100.0
MAX_SEED = 2**63 - 1  # torch generators take 64-bit seeds; the sampler also uses seed + 1
MEMORY_HEADROOM = 0.9  # of what the device reports free: the estimate is first-order


def _setting(message: str, help: str | None = None, code=codes.RUN_SETTING) -> Diagnostic:
    return Diagnostic(code, message, None, path=COMMAND_LINE, help=help)


def _finite(name: str, value: float) -> Diagnostic | None:
    if not math.isfinite(value):
        return _setting(f"`{name}` must be a finite number, got {value}")
    return None


def option_problems(
    *,
    steps: int,
    cfg_scale: float,
    seconds: float | None,
    batch: int,
    seed: int,
    init_noise_level: float,
    cond: Sequence[str],
    sampler: str | None = None,
    t5_path: str | None = None,
) -> list[Diagnostic]:
    """Every out-of-range number, empty name and repeated `--cond` id, all at once; no model or spec needed."""
    found: list[Diagnostic] = []
    if sampler is not None and not sampler.strip():
        found.append(_setting("`--sampler` is empty", help="leave it out for the objective's default sampler"))
    if t5_path is not None and not Path(t5_path).expanduser().is_dir():
        found.append(
            _setting(
                f"`--t5-path {t5_path}` is not a folder",
                help="name a local T5 folder, or leave it out to use the local Hugging Face cache",
            )
        )
    if not 1 <= steps <= MAX_STEPS:
        found.append(_setting(f"`--steps` must be between 1 and {MAX_STEPS:,}, got {steps}"))
    problem = _finite("--cfg-scale", cfg_scale)
    if problem is not None:
        found.append(problem)
    elif not 0 <= cfg_scale <= MAX_CFG_SCALE:
        found.append(
            _setting(
                f"`--cfg-scale` must be between 0 and {MAX_CFG_SCALE:g}, got {cfg_scale:g}",
                help="1 turns guidance off; 3 to 7 is usual",
            )
        )
    if seconds is not None:
        problem = _finite("--seconds", seconds)
        if problem is not None:
            found.append(problem)
        elif seconds <= 0:
            found.append(_setting(f"`--seconds` must be positive, got {seconds:g}", code=codes.SAMPLE_LENGTH))
    if not 1 <= batch <= MAX_BATCH:
        found.append(_setting(f"`--batch` must be between 1 and {MAX_BATCH}, got {batch}"))
    if not 0 <= seed <= MAX_SEED:
        found.append(_setting(f"`--seed` must be between 0 and 2**63-1, got {seed}"))
    problem = _finite("--init-noise-level", init_noise_level)
    if problem is not None:
        found.append(problem)
    elif init_noise_level <= 0:
        found.append(_setting(f"`--init-noise-level` must be positive, got {init_noise_level:g}"))
    seen: dict[str, str] = {}
    for item in cond:
        key = item.partition("=")[0]
        if key in seen:
            found.append(
                _setting(
                    f"`--cond {key}=...` is given twice (`{seen[key]}` and `{item}`)",
                    help="give each conditioner one value",
                )
            )
        seen.setdefault(key, item)
    return found


def device_check(device: str | None) -> tuple[str, Diagnostic | None]:
    """The device to sample on (the default: `cuda` when torch sees one, else `cpu`), or why `device` cannot be."""
    from audiodiff.runtime.machine import device_problem, torch_machine

    machine = torch_machine()
    if device is None:
        return ("cuda" if machine.cuda_devices else "cpu"), None
    problem = device_problem(device, machine)
    if problem is not None:
        message, help = problem
        return device, _setting(f"`--device {device}`: {message}", help=help)
    return device.strip().lower(), None


# --- memory --------------------------------------------------------------------------------------------------------


def free_bytes(device: str) -> int | None:
    """What the device has free now: CUDA's own count, or the kernel's MemAvailable for the CPU (None: unknown)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def sampling_bytes(spec: ModelConfig, counts: ModelCounts, samples: int, batch: int) -> int:
    """The first-order inference estimate (`compiler/memory.py`) for `batch` clips of `samples` audio samples."""
    from audiodiff.compiler.memory import estimate_memory

    sized = spec.model_copy(update={"sample_size": max(1, samples)})
    return estimate_memory(sized, counts, batch_size=batch, precision="32").inference.total


@dataclass(frozen=True)
class MemoryVerdict:
    needed: int
    available: int | None
    longest_seconds: float | None  # the longest request that fits at this batch (None when it all fits)


def memory_check(
    spec: ModelConfig, samples: int, batch: int, device: str, *, available: int | None = None
) -> MemoryVerdict:
    """Whether sampling `samples` per clip fits in the device's free memory; if not, the longest length that does,
    found by bisection on the (monotone) estimate."""
    from audiodiff.compiler.params import count_model

    counts = count_model(spec)
    needed = sampling_bytes(spec, counts, samples, batch)
    budget = available if available is not None else free_bytes(device)
    if budget is None or needed <= budget * MEMORY_HEADROOM:
        return MemoryVerdict(needed, budget, None)
    low, high = 0, samples  # fits(low) (vacuously at 0), not fits(high)
    while high - low > max(1, spec.sample_rate // 100):  # to 10 ms
        middle = (low + high) // 2
        if sampling_bytes(spec, counts, middle, batch) <= budget * MEMORY_HEADROOM:
            low = middle
        else:
            high = middle
    return MemoryVerdict(needed, budget, low / spec.sample_rate)


def memory_diagnostic(verdict: MemoryVerdict, seconds: float, batch: int, device: str) -> Diagnostic | None:
    if verdict.longest_seconds is None:
        return None
    from audiodiff.compiler.memory import format_bytes

    assert verdict.available is not None
    if verdict.longest_seconds <= 0:
        help = "even the shortest clip does not fit: free memory, or sample on another device"
    else:
        help = f"ask for at most {verdict.longest_seconds:.2f} seconds" + (
            f" at `--batch {batch}`, or a smaller batch" if batch > 1 else ""
        )
    return _setting(
        f"{seconds:g} seconds × {batch} clip(s) would need about {format_bytes(verdict.needed)} on "
        f"`{device}`, which has {format_bytes(verdict.available)} free",
        help=help,
        code=codes.SAMPLE_LENGTH,
    )


# --- after sampling ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clipping:
    clipped: int  # samples beyond full scale (|x| > 1), clipped when written
    total: int
    peak: float


def clipping(audio: Any) -> Clipping:
    """audio: [B, C, T] floats."""
    magnitude = audio.detach().abs()
    peak = float(magnitude.max()) if audio.numel() else 0.0
    return Clipping(int((magnitude > 1).sum()), int(magnitude.numel()), peak)


def normalize_peak(audio: Any) -> Any:
    """Each clip [C, T] of [B, C, T] scaled so that its peak is 1 (a silent clip stays silent)."""
    peaks = audio.detach().abs().amax(dim=(1, 2), keepdim=True)  # [B, 1, 1]
    return audio / peaks.clamp_min(1e-12) * (peaks > 0)
