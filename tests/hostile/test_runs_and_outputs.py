"""Runs against concurrency, full disks and non-finite values: one writer per run folder, outputs checked before
they are written, write failures named with the last good checkpoint, orphans of pruning removed, modes from the
umask, and a non-finite loss caused by the data blamed on the data."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from runtime.toy_run import (  # the runtime tests' tiny model and clips
    options,
    write_configs,
)

from audiodiff.runtime import checkpoint_io
from audiodiff.runtime.audio import write_audio
from audiodiff.runtime.checkpoint_io import (
    list_checkpoints,
    read_training_checkpoint,
    remove_temporaries,
)
from audiodiff.runtime.checkpoints import read_checkpoint, write_released
from audiodiff.runtime.outputs import NonFiniteOutput
from audiodiff.runtime.run import RunError, run
from audiodiff.runtime.run_lock import LOCK_NAME, RunFolderLocked, hold_run_folder

QUIET = {"echo": lambda text: None}
REPOSITORY = Path(__file__).resolve().parents[2]


# --- one writer per run folder ----------------------------------------------------------------------------------


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with (
        hold_run_folder(tmp_path / "run"),
        pytest.raises(RunFolderLocked) as refused,
        hold_run_folder(tmp_path / "run"),
    ):
        pass
    holder = refused.value.holder
    assert holder.pid == os.getpid() and holder.host == socket.gethostname()
    with hold_run_folder(tmp_path / "run") as lock:  # released on exit
        assert lock.stale is None


@pytest.mark.slow
def test_a_run_into_a_folder_another_process_holds_is_refused(tmp_path):
    model, dataset = write_configs(tmp_path)
    output = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\nfrom audiodiff.runtime.run_lock import hold_run_folder\n"
                f"with hold_run_folder({str(output)!r}):\n    print('held', flush=True)\n"
                "    time.sleep(120)\n"
            ),
        ],
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError) as raised:
            run(options(model, dataset, output, max_steps=2), **QUIET)
        diagnostic = raised.value.results[0].diagnostics[0]
        assert diagnostic.code.id == "AD820"
        assert f"pid {holder.pid}" in diagnostic.message and socket.gethostname() in diagnostic.message
        assert not (output / "checkpoints").exists()  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    # killed without releasing anything: the lock file is left, recognisably stale, and taken over
    assert (output / LOCK_NAME).exists()
    with hold_run_folder(output) as lock:
        assert lock.stale is not None and lock.stale.pid == holder.pid


# --- outputs checked before they are written --------------------------------------------------------------------


def test_non_finite_audio_is_never_written(tmp_path):
    audio = torch.zeros(2, 1, 100)
    audio[1, 0, 5] = float("nan")
    with pytest.raises(NonFiniteOutput, match=r"1 NaN or infinite sample\(s\) \(batch item\(s\) 1\)"):
        write_audio(tmp_path / "out.wav", audio, 8000)
    assert list(tmp_path.iterdir()) == []


def test_non_finite_weights_are_never_written(tmp_path):
    with pytest.raises(NonFiniteOutput, match="model.w"):
        write_released(
            tmp_path / "w.safetensors", {"model.w": torch.tensor([1.0, float("inf")])}, config=None, schema_version=2
        )
    assert list(tmp_path.iterdir()) == []


def test_weights_that_go_non_finite_stop_the_run_before_a_checkpoint(tmp_path, monkeypatch):
    model, dataset = write_configs(tmp_path)
    real = checkpoint_io.CheckpointCallback.on_train_batch_end

    def poison(self, trainer, pl_module, *args):
        if trainer.global_step == 4:
            with torch.no_grad():
                next(pl_module.diffusion.parameters()).fill_(float("nan"))
        return real(self, trainer, pl_module, *args)

    monkeypatch.setattr(checkpoint_io.CheckpointCallback, "on_train_batch_end", poison)
    output = tmp_path / "run"
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, output, max_steps=6, checkpoint_every=2), **QUIET)
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD821" and "step 4" in diagnostic.message
    assert "step_0000002.ckpt" in diagnostic.help
    assert [step for step, _ in list_checkpoints(output / "checkpoints")] == [2]
    assert not (output / "checkpoints" / "step_0000004.safetensors").exists()


# --- write failures during training -----------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["disk full", "read-only"])
def test_a_failed_checkpoint_write_names_the_cause_and_the_last_good_checkpoint(tmp_path, monkeypatch, failure):
    model, dataset = write_configs(tmp_path)
    real = torch.save
    calls = {"count": 0}

    def failing(payload, target, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:  # the second checkpoint (step 4)
            if failure == "disk full":
                raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 4480 vs 4374")
            raise PermissionError(13, "Permission denied", str(target))
        return real(payload, target, *args, **kwargs)

    monkeypatch.setattr(checkpoint_io.torch, "save", failing)
    output = tmp_path / "run"
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, output, max_steps=6, checkpoint_every=2), **QUIET)
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD822"
    assert (
        ("write failed" in diagnostic.message or "disk is full" in diagnostic.message)
        if failure == "disk full"
        else "permission denied" in diagnostic.message
    )
    assert "step_0000002.ckpt" in diagnostic.help
    monkeypatch.undo()
    saved = list_checkpoints(output / "checkpoints")
    assert [step for step, _ in saved] == [2]
    assert read_training_checkpoint(saved[0][1])["global_step"] == 2  # the last good one still loads
    assert not [p for p in (output / "checkpoints").iterdir() if p.name.endswith(".tmp")]


# --- pruning orphans and file modes -----------------------------------------------------------------------------


def test_an_export_orphaned_by_an_interrupted_prune_is_removed_at_the_next_start(tmp_path):
    for name in (
        "step_0000004.ckpt",
        "step_0000004.safetensors",
        "step_0000006.ckpt",
        "step_0000006.safetensors",
        "step_0000002.safetensors",
        "notes.safetensors",
    ):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_temporaries(tmp_path)
    assert [path.name for path in removed] == ["step_0000002.safetensors"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "notes.safetensors",
        "step_0000004.ckpt",
        "step_0000004.safetensors",
        "step_0000006.ckpt",
        "step_0000006.safetensors",
    ]


def test_pruning_removes_the_export_before_its_checkpoint(tmp_path):
    callback = checkpoint_io.CheckpointCallback(tmp_path, every=1, keep=1, embed={})
    for step in (1, 2):
        checkpoint_io.checkpoint_path(tmp_path, step).write_bytes(b"x")
        checkpoint_io.exported_path(tmp_path, step).write_bytes(b"x")
    removed: list[str] = []
    real_unlink = Path.unlink

    def record(self, *args, **kwargs):
        removed.append(self.name)
        return real_unlink(self, *args, **kwargs)

    Path.unlink = record  # type: ignore[method-assign]
    try:
        callback.prune()
    finally:
        Path.unlink = real_unlink  # type: ignore[method-assign]
    assert removed == ["step_0000001.safetensors", "step_0000001.ckpt"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_exported_weights_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_released(tmp_path / "w.safetensors", {"model.w": torch.ones(2)}, config=None, schema_version=2)
    finally:
        os.umask(previous)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == mode
    assert read_checkpoint(tmp_path / "w.safetensors").state_dict["model.w"].tolist() == [1.0, 1.0]


# --- a non-finite loss caused by the data ---------------------------------------------------------------------


def test_huge_but_finite_audio_is_named_as_the_cause(tmp_path):
    model, dataset = write_configs(tmp_path)
    clips = tmp_path / "clips"
    for clip in clips.glob("*.wav"):  # every clip out of all scale: whichever batch comes first holds one
        samples = np.full((1024, 1), 1e30, dtype=np.float32)
        soundfile.write(clip, samples, 8000, subtype="FLOAT")
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=4, checkpoint_every=2), **QUIET)
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD805"
    assert "clips" in diagnostic.help and ".wav" in diagnostic.help and "[-1, 1]" in diagnostic.help
    assert "learning rate" not in diagnostic.help
    json.dumps(diagnostic.help)  # one plain sentence
