"""What this machine offers to a run or a sampling request: CUDA devices (and bf16 on them), and whether a device
string a user typed names one of them.

`torch_machine` asks torch; `light_machine` reads the NVIDIA driver's device list instead, for `run --check`,
which must not import torch. The two can differ only where the driver lists a GPU that torch cannot use (a CPU
build of torch, say); the real run asks torch again and reports it then.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEVICE_PATTERN = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Machine:
    cuda_devices: int
    bf16: bool  # whether bf16 runs on the CUDA devices (irrelevant without them)
    mps: bool = False


def torch_machine() -> Machine:
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return Machine(torch.cuda.device_count() if cuda else 0, bool(cuda and torch.cuda.is_bf16_supported()), mps)


def light_machine() -> Machine:
    """The GPUs the NVIDIA driver lists, narrowed by CUDA_VISIBLE_DEVICES as CUDA narrows them."""
    count = len(list(NVIDIA_GPUS.iterdir())) if NVIDIA_GPUS.is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        listed = []
        for item in visible.split(","):
            if not item.strip() or item.strip().startswith("-"):
                break  # CUDA stops at the first invalid entry
            listed.append(item)
        count = min(count, len(listed))
    return Machine(count, True)


def device_problem(device: str, machine: Machine) -> tuple[str, str] | None:
    """(message, help) when `device` is not a device string or names a device this machine lacks; None if usable."""
    match = DEVICE_PATTERN.match(device.strip().lower())
    if match is None:
        return (
            f"`{device}` is not a device: use `cpu`, `cuda` or `cuda:N`",
            "`cpu` always works" + (", and `cuda` is available here" if machine.cuda_devices else ""),
        )
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        if machine.cuda_devices == 0:
            return ("`cuda` was asked for, but torch sees no CUDA device on this machine", "use `--device cpu`")
        if index is not None and int(index) >= machine.cuda_devices:
            problem = (
                f"`{device}` does not exist: this machine has {machine.cuda_devices} CUDA device(s), "
                f"`cuda:0` to `cuda:{machine.cuda_devices - 1}`"
            )
            return problem, "use `--device cuda:0`"
    if kind == "mps" and not machine.mps:
        return ("`mps` was asked for, but torch sees no Apple GPU on this machine", "use `--device cpu`")
    if kind == "cpu" and index is not None and index != "0":
        return (f"`{device}`: there is one CPU device", "use `--device cpu`")
    return None
