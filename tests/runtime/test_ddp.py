"""Two CPU processes with Lightning's DDP strategy (gloo): each rank trains on its own shard of the data, and both
end with identical weights, EMA included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from toy_run import REPO, write_configs


@pytest.mark.slow
def test_two_processes_train_on_different_shards_and_end_identical(tmp_path: Path):
    model, dataset = write_configs(tmp_path, clips=12)
    reports = tmp_path / "reports"
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environment.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ddp_driver.py")), str(model), str(dataset),
         str(tmp_path / "run"), str(reports)],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = [torch.load(reports / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [3, 3]
    for first, second in zip(ranks[0]["seen"], ranks[1]["seen"]):
        assert not set(first) & set(second)  # different shards at every step
    assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    ema_key = next(key for key in ranks[0]["state"] if key.startswith("diffusion_ema.ema_model."))
    assert int(ranks[0]["state"]["diffusion_ema.step"].item()) == 3 and ema_key
    assert (tmp_path / "run" / "checkpoints" / "step_0000003.ckpt").is_file()  # written once, by rank 0
