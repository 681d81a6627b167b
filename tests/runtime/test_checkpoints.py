"""Checkpoint kinds and layouts, coverage reports, refusal of partial loads, export and weights-only reading.

Checkpoints are made here from small models built by the project itself (no shared files needed); the golden
fixtures are additionally treated as checkpoints from the wild in `test_golden_checkpoints.py`.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from audiodiff.compiler.materialize import BuildOptions, build_model
from audiodiff.runtime.checkpoints import (
    CheckpointError,
    PartialLoadError,
    coverage,
    load_checkpoint_into,
    load_pretransform_checkpoint,
    read_checkpoint,
    released_state_dict,
    write_released,
)
from audiodiff.schema.validate import validate_data

CONFIG = {
    "model_type": "diffusion_cond",
    "sample_rate": 8000,
    "sample_size": 256,
    "audio_channels": 1,
    "model": {
        "io_channels": 4,
        "pretransform": {
            "type": "autoencoder",
            "config": {
                "encoder": {
                    "type": "oobleck",
                    "config": {"in_channels": 1, "channels": 4, "c_mults": [1, 2], "strides": [2, 2], "latent_dim": 8},
                },
                "decoder": {
                    "type": "oobleck",
                    "config": {"out_channels": 1, "channels": 4, "c_mults": [1, 2], "strides": [2, 2], "latent_dim": 4},
                },
                "bottleneck": {"type": "vae"},
                "latent_dim": 4,
                "downsampling_ratio": 4,
                "io_channels": 1,
            },
        },
        "conditioning": {
            "cond_dim": 16,
            "configs": [
                {"id": "level", "type": "number", "config": {"min_val": 0, "max_val": 1}},
            ],
        },
        "diffusion": {
            "type": "dit",
            "cross_attention_cond_ids": ["level"],
            "config": {
                "io_channels": 4,
                "embed_dim": 32,
                "depth": 1,
                "num_heads": 1,
                "cond_token_dim": 16,
                "transformer_type": "continuous_transformer",
            },
        },
    },
}


@pytest.fixture(scope="module")
def spec():
    result = validate_data(CONFIG)
    assert result.ok, result.diagnostics
    return result.spec


@pytest.fixture()
def model(spec):
    torch.manual_seed(0)
    return build_model(spec)


def test_released_safetensors_round_trip_with_config(tmp_path: Path, spec, model) -> None:
    path = tmp_path / "model.safetensors"
    write_released(path, released_state_dict(model), config=CONFIG, schema_version=1)
    checkpoint = read_checkpoint(path)
    assert (checkpoint.kind, checkpoint.layout, checkpoint.schema_version) == ("safetensors", "released", 1)
    assert checkpoint.config == CONFIG
    fresh = build_model(spec)
    report = load_checkpoint_into(fresh, checkpoint)
    assert report.complete
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)


def test_lightning_layout_takes_the_ema_backbone(tmp_path: Path, spec, model) -> None:
    ema = build_model(spec).model  # a different backbone: the "EMA" weights
    state = {f"diffusion.{k}": v for k, v in model.state_dict().items()}
    state.update({f"diffusion_ema.ema_model.{k}": v for k, v in ema.state_dict().items()})
    state["diffusion_ema.initted"] = torch.tensor([True])
    state["diffusion_ema.step"] = torch.tensor([10])
    state["losses.losses.0.weight"] = torch.tensor(1.0)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": state, "global_step": 10, "model_config": CONFIG}, path)

    checkpoint = read_checkpoint(path)
    assert (checkpoint.kind, checkpoint.layout, checkpoint.has_ema, checkpoint.used_ema) == (
        "lightning",
        "lightning",
        True,
        True,
    )
    assert checkpoint.extra["global_step"] == 10 and checkpoint.config == CONFIG
    assert "diffusion_ema.step" in checkpoint.dropped and "losses.losses.0.weight" in checkpoint.dropped
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(checkpoint.state_dict[f"model.{key}"], value)
    online = read_checkpoint(path, prefer_ema=False)
    for key, value in model.model.state_dict().items():
        torch.testing.assert_close(online.state_dict[f"model.{key}"], value)


def test_partial_checkpoint_is_refused_with_a_report_naming_the_keys(spec, model) -> None:
    state = dict(released_state_dict(model))
    removed = "conditioner.conditioners.level.embedder.embedding.1.bias"
    reshaped = "model.model.transformer.project_in.weight"
    del state[removed]
    state[reshaped] = torch.zeros(3, 3)
    state["model.model.stray.weight"] = torch.zeros(1)
    skeleton = build_model(spec, BuildOptions(device="meta"))
    report = coverage(skeleton, state)
    assert not report.complete
    assert report.missing == [removed]
    assert [key for key, _, _ in report.mismatched] == [reshaped]
    assert report.unexpected == ["model.model.stray.weight"]
    text = report.render()
    assert removed in text and reshaped in text and "conditioning.level" in text

    from audiodiff.runtime.checkpoints import Checkpoint

    with pytest.raises(PartialLoadError):
        load_checkpoint_into(build_model(spec), Checkpoint("x", "released", "released", state))
    partial = load_checkpoint_into(
        build_model(spec), Checkpoint("x", "released", "released", state), allow_partial=True
    )
    assert not partial.complete


class Payload:
    """Stands for any Python object beyond tensors and containers: unpickling it could run code."""


def test_weights_only_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as stream:
        pickle.dump({"state_dict": {"model.x": Payload()}}, stream)
    with pytest.raises(CheckpointError, match="weights-only"):
        read_checkpoint(path)


def test_corrupt_and_missing_files_are_errors(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(CheckpointError):
        read_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.ckpt")


def test_separate_pretransform_checkpoint_loads_into_the_pretransform(tmp_path: Path, spec, model) -> None:
    autoencoder_state = model.pretransform.model.state_dict()
    path = tmp_path / "vae.safetensors"
    save_file({k: v.contiguous() for k, v in autoencoder_state.items()}, str(path))
    checkpoint = read_checkpoint(path)
    assert checkpoint.layout == "autoencoder"
    fresh = build_model(spec)
    report = load_pretransform_checkpoint(fresh, checkpoint)
    assert report.complete
    for key, value in autoencoder_state.items():
        torch.testing.assert_close(fresh.pretransform.model.state_dict()[key], value)


def test_ckpt_export_cli_writes_the_released_layout(tmp_path: Path, spec, model) -> None:
    from typer.testing import CliRunner

    from audiodiff.cli.app import app

    state = {f"diffusion.{k}": v for k, v in model.state_dict().items()}
    source = tmp_path / "train.ckpt"
    torch.save({"state_dict": state, "model_config": CONFIG}, source)
    out = tmp_path / "exported.safetensors"
    runner = CliRunner()
    result = runner.invoke(app, ["ckpt", "export", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    exported = read_checkpoint(out)
    assert exported.layout == "released" and exported.config == CONFIG
    assert set(exported.state_dict) == set(model.state_dict())
    inspected = runner.invoke(app, ["ckpt", "inspect", str(out), "--format", "json"])
    summary = json.loads(inspected.stdout)
    assert summary["layout"] == "released" and summary["config"]["valid"] is True
