"""Resuming: a resumed run is the same run (weights, optimizer, scheduler, EMA and random streams), and a run
killed with SIGKILL at any moment leaves only loadable checkpoints to resume from."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import torch
from toy_run import cli, options, write_configs

from audiodiff.runtime.checkpoint_io import (
    list_checkpoints,
    read_training_checkpoint,
    save_atomic,
)
from audiodiff.runtime.run import run


def _state(path: Path) -> dict:
    return read_training_checkpoint(path)


def test_a_resumed_run_continues_the_exact_optimizer_step_and_ema(tmp_path: Path):
    model, dataset = write_configs(tmp_path)
    quiet = {"echo": lambda text: None}
    straight = run(options(model, dataset, tmp_path / "straight", max_steps=6, checkpoint_every=3), **quiet)
    run(options(model, dataset, tmp_path / "split", max_steps=3, checkpoint_every=3), **quiet)
    resumed = run(options(model, dataset, tmp_path / "split", max_steps=6, checkpoint_every=3, resume=True), **quiet)
    assert straight.steps == resumed.steps == 6
    a, b = _state(straight.checkpoint), _state(resumed.checkpoint)
    assert a["global_step"] == b["global_step"] == 6
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key  # online weights, EMA weights, EMA counters
    assert int(b["state_dict"]["diffusion_ema.step"].item()) == 6
    optimizer_a, optimizer_b = a["optimizer_states"][0], b["optimizer_states"][0]
    for index, slot in optimizer_a["state"].items():
        assert int(slot["step"]) == int(optimizer_b["state"][index]["step"]) == 6
        assert torch.equal(slot["exp_avg"], optimizer_b["state"][index]["exp_avg"])
        assert torch.equal(slot["exp_avg_sq"], optimizer_b["state"][index]["exp_avg_sq"])
    assert a["lr_schedulers"][0]["last_epoch"] == b["lr_schedulers"][0]["last_epoch"] == 6
    assert a["lr_schedulers"][0]["_last_lr"] == b["lr_schedulers"][0]["_last_lr"]


def test_an_interrupted_write_leaves_the_previous_file_intact(tmp_path: Path):
    path = tmp_path / "step_0000002.ckpt"
    save_atomic({"state_dict": {"w": torch.ones(3)}}, path)

    class Unpicklable:
        def __reduce_ex__(self, protocol):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_atomic({"state_dict": {"w": torch.zeros(3)}, "bad": Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_a_checkpoint_gets_the_permissions_an_ordinary_file_would(tmp_path: Path):
    import os
    import stat

    previous = os.umask(0o027)
    try:
        path = tmp_path / "step_0000001.ckpt"
        save_atomic({"state_dict": {"w": torch.ones(1)}}, path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # 0o666 less the umask, not mkstemp's private 0o600
    path.chmod(0o604)
    save_atomic({"state_dict": {"w": torch.zeros(1)}}, path)  # replacing a file keeps its permissions
    assert stat.S_IMODE(path.stat().st_mode) == 0o604


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_run_then_resume(tmp_path: Path):
    model, dataset = write_configs(tmp_path)
    output = tmp_path / "run"
    folder = output / "checkpoints"
    common = [
        "--dataset",
        str(dataset),
        "--output",
        str(output),
        "--batch-size",
        "2",
        "--logger",
        "csv",
        "--checkpoint-every",
        "3",
        "--keep-checkpoints",
        "2",
        "--seed",
        "5",
    ]
    process = cli("run", str(model), *common, "--max-steps", "100000", wait=False)
    try:
        deadline = time.monotonic() + 900  # a hang guard, not a speed check: slow machines pass
        while len(list_checkpoints(folder)) < 2 or list_checkpoints(folder)[-1][0] < 9:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the run made no checkpoints in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)  # no handler runs: whatever is on disk is what a crash leaves
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    survivors = list_checkpoints(folder)
    assert survivors, "a killed run must keep its checkpoints"
    for step, path in survivors:
        assert read_training_checkpoint(path)["global_step"] == step  # every complete name is a complete file
    target = survivors[-1][0] + 4
    result = cli("run", str(model), *common, "--max-steps", str(target), "--resume")
    assert result.returncode == 0, result.stderr
    final = list_checkpoints(folder)[-1]
    assert final[0] == target and read_training_checkpoint(final[1])["global_step"] == target
    assert (folder / f"step_{target:07d}.safetensors").is_file()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # the killed run's temporaries are gone
