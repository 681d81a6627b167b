"""Faults: a NaN loss stops the run and keeps the last good checkpoint; unreadable audio is skipped; resume refuses
architecture changes (with the diff) and accepts demo and learning-rate changes; Ctrl-C saves and stops."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import torch
from toy_run import cli, merge, options, write_configs

from audiodiff.runtime import training
from audiodiff.runtime.checkpoint_io import list_checkpoints, read_training_checkpoint
from audiodiff.runtime.run import RunError, run

QUIET = {"echo": lambda text: None}


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch):
    model, dataset = write_configs(tmp_path)
    real = training.DiffusionTrainer.compute_loss

    def poisoned(self, batch, **kwargs):
        loss, per_item, t = real(self, batch, **kwargs)
        if self.global_step + 1 == 3:  # the third optimizer step
            loss = loss * float("nan")
        return loss, per_item, t

    monkeypatch.setattr(training.DiffusionTrainer, "compute_loss", poisoned)
    output = tmp_path / "run"
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, output, max_steps=10, checkpoint_every=2), **QUIET)
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD805" and "at step 3" in diagnostic.message and "nan" in diagnostic.message
    assert "step_0000002.ckpt" in diagnostic.help
    saved = list_checkpoints(output / "checkpoints")
    assert [step for step, _ in saved] == [2]  # nothing was written for the poisoned step
    state = read_training_checkpoint(saved[0][1])["state_dict"]
    assert all(torch.isfinite(value).all() for value in state.values() if value.is_floating_point())
    assert (output / "checkpoints" / "step_0000002.safetensors").is_file()


def test_unreadable_and_empty_audio_files_are_skipped_and_counted(tmp_path: Path):
    model, dataset = write_configs(tmp_path)
    clips = tmp_path / "clips"
    (clips / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (clips / "empty.flac").write_bytes(b"")
    (clips / "truncated.ogg").write_bytes(b"OggS\x00\x02")
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=2), **QUIET)
    assert outcome.steps == 2 and outcome.skipped_files == 3


def _resume_with(tmp_path: Path, patch: dict, **settings):
    model, dataset = write_configs(tmp_path)
    output = tmp_path / "run"
    run(options(model, dataset, output, max_steps=2), **QUIET)
    config = json.loads(model.read_text())
    model.write_text(json.dumps(merge(config, patch), indent=2))
    messages: list[str] = []
    outcome = run(options(model, dataset, output, max_steps=4, resume=True, **settings), echo=messages.append)
    return outcome, messages


def test_a_changed_architecture_is_refused_with_the_diff(tmp_path: Path):
    with pytest.raises(RunError) as raised:
        _resume_with(tmp_path, {"model": {"diffusion": {"config": {"embed_dim": 64, "num_heads": 2}}}})
    diagnostics = [d for result in raised.value.results for d in result.diagnostics]
    assert {d.code.id for d in diagnostics} == {"AD804"}
    by_pointer = {d.pointer: d for d in diagnostics}
    assert set(by_pointer) == {"/model/diffusion/config/embed_dim", "/model/diffusion/config/num_heads"}
    embed = by_pointer["/model/diffusion/config/embed_dim"]
    assert "from `32` to `64`" in embed.message and embed.span is not None and "--force-resume" in embed.help
    assert list_checkpoints(tmp_path / "run" / "checkpoints")[-1][0] == 2  # nothing ran


def test_a_forced_resume_across_an_architecture_change_says_what_does_not_fit(tmp_path: Path):
    with pytest.raises(RunError) as raised:
        _resume_with(
            tmp_path, {"model": {"diffusion": {"config": {"embed_dim": 64, "num_heads": 2}}}}, force_resume=True
        )
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD803" and "size mismatch" in diagnostic.message


def test_changed_demos_and_learning_rate_are_accepted_and_applied(tmp_path: Path):
    patch = {
        "training": {
            "demo": {
                "demo_every": 3,
                "demo_cond": [
                    {"class": "noise", "seconds_start": 0, "seconds_total": 2},
                    {"class": "tone", "seconds_start": 1, "seconds_total": 2},
                ],
            },
            "optimizer_configs": {"diffusion": {"optimizer": {"config": {"lr": 5e-4}}}},
        }
    }
    outcome, messages = _resume_with(tmp_path, patch)
    assert outcome.steps == 4
    text = "\n".join(messages)
    assert "/training/demo/demo_cond/0/class" in text
    assert "/training/optimizer_configs/diffusion/optimizer/config/lr" in text
    assert "base learning rate 0.001 -> 0.0005" in text
    lr = read_training_checkpoint(outcome.checkpoint)["lr_schedulers"][0]["base_lrs"]
    assert lr == [5e-4]
    assert (tmp_path / "run" / "demos" / "step_0000004" / "demo_0_cfg_1.wav").is_file()  # the new demo settings ran


def test_an_optimizer_setting_a_resume_would_silently_drop_is_refused(tmp_path: Path):
    with pytest.raises(RunError) as raised:
        _resume_with(
            tmp_path, {"training": {"optimizer_configs": {"diffusion": {"optimizer": {"config": {"amsgrad": True}}}}}}
        )
    diagnostics = [d for result in raised.value.results for d in result.diagnostics]
    assert [(d.code.id, d.pointer) for d in diagnostics] == [
        ("AD804", "/training/optimizer_configs/diffusion/optimizer/config/amsgrad")
    ]
    assert "checkpoint's value" in diagnostics[0].message


BREAKING_MODULE = """
def get_custom_metadata(info, audio):
    return {"seconds_total": "fast"} if info["relpath"] == "noise_03.wav" else {}
"""


def test_a_value_no_conditioner_can_read_stops_the_run_with_a_diagnostic(tmp_path: Path):
    module = tmp_path / "meta.py"
    module.write_text(BREAKING_MODULE)  # preflight cannot see what a module returns: the training step catches it
    model, dataset = write_configs(
        tmp_path,
        dataset_patch={
            "datasets": [{"id": "clips", "path": str(tmp_path / "clips"), "custom_metadata_module": str(module)}]
        },
    )
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=8, batch_size=4, allow_metadata_module=True), **QUIET)
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD809" and raised.value.results[0].path == str(dataset)
    assert "training stopped at step" in diagnostic.message and "'fast'" in diagnostic.message
    assert "noise_03.wav" in diagnostic.message and "--resume" in diagnostic.help


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_stops(tmp_path: Path):
    model, dataset = write_configs(tmp_path)
    output = tmp_path / "run"
    process = cli(
        "run",
        str(model),
        "--dataset",
        str(dataset),
        "--output",
        str(output),
        "--batch-size",
        "2",
        "--logger",
        "csv",
        "--checkpoint-every",
        "100000",
        wait=False,
    )
    try:
        deadline = time.monotonic() + 900  # a hang guard, not a speed check: slow machines pass
        metrics = output / "logs" / "metrics.csv"
        while not metrics.exists() or len(metrics.read_text().splitlines()) < 3:  # a few steps were logged
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        log, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, log
    assert "Ctrl-C: saving a checkpoint" in log and "continue with --resume" in log
    saved = list_checkpoints(output / "checkpoints")
    assert len(saved) == 1 and saved[0][0] >= 1
    assert read_training_checkpoint(saved[0][1])["global_step"] == saved[0][0]
    # no demo round on the way out (rounds fall on multiples of demo_every, 1000 here, and after the last step)
    demos = output / "demos"
    assert not demos.exists() or [p.name for p in demos.iterdir() if p.is_dir()] == []


def test_a_second_ctrl_c_interrupts_at_once(monkeypatch):
    """The first SIGINT only asks for a stop; the second raises KeyboardInterrupt in the middle of whatever runs.
    (Two real signals sent to a training process race with the stop the first one asks for, so the handler is
    driven directly.)"""
    from audiodiff.runtime.faults import StopRequest

    messages: list[str] = []
    stop = StopRequest(notify=messages.append)
    stop._handle(signal.SIGINT, None)
    assert stop.requested and "Ctrl-C again aborts at once" in messages[0]
    with pytest.raises(KeyboardInterrupt):
        stop._handle(signal.SIGINT, None)


def test_an_interrupted_run_exits_without_a_traceback(monkeypatch, tmp_path: Path):
    from typer.testing import CliRunner

    import audiodiff.runtime.run as run_module
    from audiodiff.cli.app import app

    def interrupted(options, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run", interrupted)
    model, dataset = write_configs(tmp_path)
    result = CliRunner().invoke(app, ["run", str(model), "-d", str(dataset), "-o", str(tmp_path / "run")])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert "stopped at once" in result.output
