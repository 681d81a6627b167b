"""The layout of a run folder, without torch: where checkpoints go and how a step number is written in a name.

Every name that carries a step number (`checkpoints/step_0000500.ckpt`, `step_0000500.safetensors`,
`demos/step_0000500/`) formats it with `step_name`, so that folders and files sort and read the same way.
`audiodiff run --check` reads the folder through this module to judge a resume without importing torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

STEP_DIGITS = 7


def step_name(step: int) -> str:
    """`step_0000500`: the one spelling of a step number in file and folder names."""
    return f"step_{step:0{STEP_DIGITS}d}"


CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.ckpt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"{step_name(step)}.ckpt"


def exported_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"{step_name(step)}.safetensors"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the complete Lightning checkpoints in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def exported_config(path: Path) -> dict | None:
    """The model config embedded in an exported `step_<N>.safetensors` (its header metadata, `model_config`),
    read without torch or safetensors: an 8-byte little-endian length, then that many bytes of JSON. None when the
    file is missing, not safetensors, or carries no config."""
    from audiodiff.runtime.checkpoint_header import (
        HeaderError,
        embedded_config,
        read_safetensors_header,
    )
    from audiodiff.schema.reading import FileRefused, check_regular

    try:
        check_regular(path)  # never a FIFO or a device
        config = embedded_config(read_safetensors_header(path).metadata.get("model_config"))
    except (FileRefused, HeaderError, OSError, RecursionError):  # HeaderError: any header or config not to trust
        return None
    return config if isinstance(config, dict) else None


def folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot hold a command's output, or None: checked before any work, so that a typo in `--output`
    (a file on the way, a read-only place) is a diagnostic at the start rather than an error after training."""
    probe = Path(folder).absolute()
    while not probe.exists():  # the nearest part of the path that exists will hold the folders made below it
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"`{probe}` is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"`{probe}` is not writable"
    return None
