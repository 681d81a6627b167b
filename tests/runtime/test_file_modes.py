"""Every file audiodiff writes gets the mode an ordinary `open()` would give it under the umask, whichever library
writes it (safetensors replaces the file it writes, which used to leave exported weights at 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from audiodiff.runtime.atomic import write_bytes_atomic
from audiodiff.runtime.checkpoints import write_released


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_exported_weights_and_plain_files_share_the_umask_mode(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        write_released(tmp_path / "m.safetensors", {"a": torch.zeros(2)}, config=None, schema_version=2)
        write_bytes_atomic(tmp_path / "a.bin", b"x")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == expected
