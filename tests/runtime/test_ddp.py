"""Two CPU processes with Lightning's DDP strategy (gloo): each rank trains on its own shard of the data at its own
diffusion times, and both end with identical weights, EMA included; DDP is told when a step can leave parameters
unused."""

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
    model, dataset = write_configs(tmp_path, {"training": {"timestep_sampler": "uniform"}}, clips=12)
    reports = tmp_path / "reports"
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environment.pop(name, None)
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("ddp_driver.py")),
            str(model),
            str(dataset),
            str(tmp_path / "run"),
            str(reports),
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = [torch.load(reports / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [3, 3]
    for first, second in zip(ranks[0]["seen"], ranks[1]["seen"]):
        assert not set(first) & set(second)  # different shards at every step
    assert len(ranks[0]["times"]) == len(ranks[1]["times"]) == 3
    for first, second in zip(ranks[0]["times"], ranks[1]["times"]):
        assert not set(first) & set(second)  # different points of the Sobol sequence at every step
    assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    ema_key = next(key for key in ranks[0]["state"] if key.startswith("diffusion_ema.ema_model."))
    assert int(ranks[0]["state"]["diffusion_ema.step"].item()) == 3 and ema_key
    assert (tmp_path / "run" / "checkpoints" / "step_0000003.ckpt").is_file()  # written once, by rank 0


UNET = {
    "type": "adp_cfg_1d",
    "global_cond_ids": None,
    "cross_attention_cond_ids": ["class", "seconds_start", "seconds_total"],
    "config": {
        "in_channels": 16,
        "channels": 16,
        "multipliers": [1, 2],
        "factors": [2],
        "num_blocks": [1],
        "attentions": [0, 1],
        "attention_heads": 2,
        "attention_features": 8,
        "attention_multiplier": 2,
        "context_embedding_features": 32,
        "context_embedding_max_length": 4,
        "resnet_groups": 8,
        "use_context_time": True,
        "embed_dim": None,
        "depth": None,
        "num_heads": None,
        "cond_token_dim": None,
        "global_cond_dim": None,
        "transformer_type": None,
        "io_channels": None,
    },
}


@pytest.mark.parametrize(
    ("backbone", "dropout", "unused"),
    [
        ("adp_cfg_1d", 0.0, True),  # the learned null embedding only enters through CFG dropout
        ("adp_cfg_1d", 0.1, False),
        ("dit", 0.0, False),
    ],
)
def test_ddp_searches_for_unused_parameters_when_a_step_can_leave_some(
    tmp_path: Path, backbone: str, dropout: float, unused: bool
):
    from audiodiff.compiler.materialize import BuildOptions, build_model
    from audiodiff.compiler.pipeline import check_file
    from audiodiff.runtime.launch import may_leave_parameters_unused

    patch = {"training": {"cfg_dropout_prob": dropout}}
    if backbone == "adp_cfg_1d":
        patch["model"] = {"diffusion": UNET}
    model_path, _ = write_configs(tmp_path, patch)
    check = check_file(model_path)
    assert not check.has_errors, [d.message for d in check.diagnostics]
    model = build_model(check.spec, BuildOptions(device="meta"))
    assert may_leave_parameters_unused(check.spec, model) is unused
    if backbone == "adp_cfg_1d" and dropout == 0:
        # the reason: no forward at this dropout reaches `fixed_embedding`
        x = torch.zeros(2, 16, 64, requires_grad=True)
        real = build_model(check.spec)
        cond = real.conditioning_tensors([{"class": "tone", "seconds_start": 0, "seconds_total": 1}] * 2, "cpu")
        real(x, torch.rand(2), cond).sum().backward()
        assert real.model.model.fixed_embedding.embedding.weight.grad is None
