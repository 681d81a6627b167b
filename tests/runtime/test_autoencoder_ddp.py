"""Autoencoder training with two CPU processes (Lightning's DDP over gloo): two optimizers stepped by hand, each
step training one of the two networks while DDP averages the gradients. The ranks read different clips, end with
identical autoencoders, discriminators, EMA copies and optimizer moments, one checkpoint per save is written (by
rank 0), and a resumed DDP run continues from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from autoencoder_toy import write_autoencoder_configs
from toy_run import REPO

from audiodiff.runtime.checkpoint_io import read_training_checkpoint


def _train(model: Path, dataset: Path, output: Path, reports: Path, steps: int, resume: bool = False) -> list[dict]:
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environment.pop(name, None)
    command = [sys.executable, str(Path(__file__).with_name("autoencoder_ddp_driver.py"))]
    command += [str(model), str(dataset), str(output), str(reports), "--steps", str(steps)]
    result = subprocess.run(
        command + (["--resume"] if resume else []),
        check=False,
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [torch.load(reports / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]


def _assert_ranks_agree(ranks: list[dict]) -> None:
    assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    assert len(ranks[0]["optimizers"]) == len(ranks[1]["optimizers"]) == 2  # autoencoder, discriminator
    for first, second in zip(ranks[0]["optimizers"], ranks[1]["optimizers"], strict=True):
        assert first["state"].keys() == second["state"].keys() and first["state"]
        for index, slot in first["state"].items():
            assert torch.equal(slot["exp_avg"], second["state"][index]["exp_avg"]), index
            assert torch.equal(slot["exp_avg_sq"], second["state"][index]["exp_avg_sq"]), index


@pytest.mark.slow
def test_two_processes_train_both_networks_identically_and_resume(tmp_path: Path):
    # 13 clips, one held back for demos: 12 train, so no step of two ranks x 2 clips straddles two epochs
    model, dataset = write_autoencoder_configs(tmp_path, clips=13)
    output = tmp_path / "run"
    # warm-up 2: steps 1 and 3 train the discriminator, 2 the generator without and 4 with the adversarial terms
    ranks = _train(model, dataset, output, tmp_path / "first", steps=4)
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [4, 4]
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 4
    for first, second in zip(ranks[0]["seen"], ranks[1]["seen"], strict=True):
        assert not set(first) & set(second)  # different shards at every step
    _assert_ranks_agree(ranks)
    state = ranks[0]["state"]
    assert int(state["autoencoder_ema.step"]) == 2  # one EMA update per generator step
    assert float(state["losses.weight_mrstft_loss"]) == pytest.approx(0.999**2)
    saved = sorted(path.name for path in (output / "checkpoints").glob("*.ckpt"))
    assert saved == ["step_0000002.ckpt", "step_0000004.ckpt"]
    checkpoint = read_training_checkpoint(output / "checkpoints" / "step_0000004.ckpt")
    for key, value in state.items():  # what rank 0 saved is what both ranks hold
        assert torch.equal(checkpoint["state_dict"][key], value), key
    assert [len(optimizer["state"]) > 0 for optimizer in checkpoint["optimizer_states"]] == [True, True]

    resumed = _train(model, dataset, output, tmp_path / "resumed", steps=6, resume=True)
    assert [r["step"] for r in resumed] == [6, 6]
    assert len(resumed[0]["seen"]) == len(resumed[1]["seen"]) == 2  # steps 5 and 6 only
    _assert_ranks_agree(resumed)
    assert int(resumed[0]["state"]["autoencoder_ema.step"]) == 3
    moved = [key for key, value in resumed[0]["state"].items() if not torch.equal(value, state[key])]
    assert any(key.startswith("autoencoder.decoder.") for key in moved)
    assert any(key.startswith("discriminator.") for key in moved)
