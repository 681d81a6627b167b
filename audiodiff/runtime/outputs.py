"""Outputs are checked before they are written, and failures to write them are named.

- Non-finite values: a WAV written from NaN samples is constant full-scale noise, and a safetensors file of NaN
  weights poisons everything loaded from it. `check_finite_audio` and `check_finite_tensors` raise
  `NonFiniteOutput` saying where the values appeared, before a single byte is written.
- Write failures: a full disk surfaces from torch.save as `RuntimeError: unexpected pos ...`, a read-only folder as
  a PermissionError. `write_failure` turns either into `OutputWriteFailed` with one sentence naming the cause.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor


class NonFiniteOutput(Exception):
    """NaN or infinite values in something about to be written; `str()` says where."""


class OutputWriteFailed(Exception):
    """An output file could not be written; `path` is the file, `cause` one phrase (e.g. "the disk is full")."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"`{path}` could not be written: {cause}")
        self.path = path
        self.cause = cause


def _count_non_finite(tensor: Tensor) -> int:
    if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.is_meta:
        return 0
    return int((~torch.isfinite(tensor.detach())).sum())


def check_finite_audio(audio: Tensor, what: str = "the generated audio") -> None:
    """audio: [B, C, T] (or any shape). NonFiniteOutput naming the items and the count when any sample is NaN/inf."""
    if audio.numel() == 0 or bool(torch.isfinite(audio.detach()).all()):
        return
    flat = audio.detach().reshape(audio.shape[0], -1) if audio.dim() > 1 else audio.detach().reshape(1, -1)
    bad_items = [index for index, item in enumerate(flat) if not bool(torch.isfinite(item).all())]
    count = int((~torch.isfinite(flat)).sum())
    items = ", ".join(str(index) for index in bad_items[:8]) + (" ..." if len(bad_items) > 8 else "")
    raise NonFiniteOutput(
        f"{what} holds {count} NaN or infinite sample(s) (batch item(s) {items}); nothing was written"
    )


def check_finite_tensors(state: Mapping[str, Tensor], what: str = "the weights") -> None:
    """NonFiniteOutput naming the first tensors that hold NaN or infinite values."""
    bad = []
    for name, tensor in state.items():
        count = _count_non_finite(tensor)
        if count:
            bad.append(f"`{name}` ({count} of {tensor.numel()})")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more tensors" if len(bad) > 5 else "")
        raise NonFiniteOutput(f"{what} hold NaN or infinite values in {shown}; nothing was written")


def non_finite_parameters(module: torch.nn.Module) -> list[str]:
    """Names of the module's parameters and buffers that hold NaN or infinite values (local shards only)."""
    named = list(module.named_parameters()) + list(module.named_buffers())
    return [name for name, tensor in named if _count_non_finite(tensor)]


_WRITE_MESSAGES = ("unexpected pos", "failed writing", "file write failed", "enospc", "no space left")


def write_failure(error: BaseException, path: Path) -> OutputWriteFailed | None:
    """The OutputWriteFailed an exception raised while writing `path` means, or None when it is not a write failure."""
    folder = Path(path).parent
    if isinstance(error, OSError):
        if error.errno in (errno.ENOSPC, errno.EDQUOT if hasattr(errno, "EDQUOT") else errno.ENOSPC):
            return OutputWriteFailed(Path(path), "the disk is full")
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return OutputWriteFailed(
                Path(path), f"permission denied ({error.strerror or error}); is `{folder}` read-only?"
            )
        return OutputWriteFailed(Path(path), error.strerror or str(error))
    if isinstance(error, RuntimeError) and any(word in str(error).lower() for word in _WRITE_MESSAGES):
        return OutputWriteFailed(Path(path), f"{_space_hint(folder)} ({str(error).splitlines()[0][:200]})")
    return None


def _space_hint(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder if folder.exists() else Path(os.path.abspath(folder)).anchor).free
    except OSError:
        return "the write failed"
    return "the disk is full" if free < 64 * 2**20 else "the write failed"
