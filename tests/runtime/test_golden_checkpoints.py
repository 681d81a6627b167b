"""The golden weights as checkpoints from the wild: `ckpt inspect` reads each, `sample` loads the diffusion ones
with full coverage, and a doctored copy (one tensor removed, one reshaped) is refused with a report naming both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from shared_paths import GOLDEN
from typer.testing import CliRunner

from audiodiff.cli.app import app


def _cases() -> list[Path]:
    if not GOLDEN.is_dir():
        return []
    return sorted(path for path in GOLDEN.iterdir() if (path / "weights.safetensors").is_file())


def _cond_arguments(case_dir: Path) -> list[str]:
    """The case's first metadata item, else the config's first demo entry: values for every conditioner."""
    metadata = json.loads((case_dir / "case.json").read_text())["metadata"]
    if not metadata:
        config = json.loads((case_dir / "config.json").read_text())
        metadata = config.get("training", {}).get("demo", {}).get("demo_cond", [])
    arguments = []
    for key, value in (metadata[0] if metadata else {}).items():
        arguments += ["--cond", f"{key}={json.dumps(value)}"]
    return arguments


def _is_diffusion(case_dir: Path) -> bool:
    return json.loads((case_dir / "config.json").read_text())["model_type"].startswith("diffusion")


@pytest.mark.parametrize("case_dir", _cases(), ids=lambda path: path.name)
def test_inspect_reads_every_golden_checkpoint(case_dir: Path) -> None:
    result = CliRunner().invoke(app, ["ckpt", "inspect", str(case_dir / "weights.safetensors"), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["layout"] in ("released", "autoencoder")
    assert summary["tensors"] == len(load_file(case_dir / "weights.safetensors"))


@pytest.mark.parametrize("case_dir", [c for c in _cases() if _is_diffusion(c)], ids=lambda path: path.name)
def test_sample_loads_golden_weights_and_refuses_a_doctored_copy(case_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    config, weights = str(case_dir / "config.json"), str(case_dir / "weights.safetensors")
    out = tmp_path / "out.wav"
    arguments = ["sample", config, "--ckpt", weights, *_cond_arguments(case_dir), "--steps", "2", "--output", str(out)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert out.is_file()

    state = load_file(weights)
    removed, reshaped = sorted(state)[0], sorted(state)[-1]
    del state[removed]
    state[reshaped] = torch.zeros(*state[reshaped].shape, 2) if state[reshaped].dim() else torch.zeros(2)
    doctored = tmp_path / "doctored.safetensors"
    save_file(state, str(doctored))
    refused = runner.invoke(
        app,
        [
            "sample",
            config,
            "--ckpt",
            str(doctored),
            *_cond_arguments(case_dir),
            "--steps",
            "2",
            "--output",
            str(tmp_path / "never.wav"),
        ],
    )
    assert refused.exit_code == 1
    assert "AD803" in refused.output
    assert removed in refused.output and reshaped in refused.output
    assert not (tmp_path / "never.wav").exists()
