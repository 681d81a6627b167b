"""Atomic writes: the target is replaced whole or not at all, keeps its permissions, and a link is followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from audiodiff.runtime.atomic import atomic_output, write_text_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_get_the_umask_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "new.txt") == 0o644


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o640


def test_a_symbolic_link_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
