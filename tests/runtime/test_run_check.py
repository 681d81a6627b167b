"""`audiodiff run --check`: every preflight check of `run`, without building a model and without importing torch or
Lightning. Each case runs a real process (a cold start, as a user gets it) and checks what it imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import run_audiodiff

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The shipped example with a small toy dataset, in a folder of its own."""
    folder = tmp_path_factory.mktemp("example")
    for name in ("toy_dit.json", "toy_dataset.json"):
        shutil.copy(REPO / "examples" / name, folder / name)
    made = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "make_toy_dataset.py"),
            str(folder / "data/toy"),
            "--clips-per-class",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    return folder


def check(folder: Path, *extra: str):
    return run_audiodiff("run", "toy_dit.json", "-d", "toy_dataset.json", "-o", "runs/a", "--check", *extra, cwd=folder)


def test_the_shipped_example_passes_without_torch_and_without_a_run_folder(example: Path) -> None:
    result = check(example)
    assert result.exit_code == 0, result.stderr
    assert "all checks passed" in result.stdout and "6 file(s)" in result.stdout
    assert result.heavy == [], f"run --check imported {result.heavy}"
    assert not (example / "runs").exists()  # a dry run writes nothing


def test_a_config_mistake_is_reported_without_torch(example: Path, tmp_path: Path) -> None:
    config = json.loads((example / "toy_dit.json").read_text())
    config["model"]["diffusion"]["cross_attention_cond_ids"][0] = "clas"
    (tmp_path / "toy_dit.json").write_text(json.dumps(config, indent=2))
    shutil.copy(example / "toy_dataset.json", tmp_path)
    (tmp_path / "data").symlink_to(example / "data")
    result = check(tmp_path)
    assert result.exit_code == 1 and "AD201" in result.stderr and "did you mean `class`" in result.stderr
    assert "Traceback" not in result.stderr and result.heavy == []


def test_a_missing_dataset_folder_is_reported(example: Path, tmp_path: Path) -> None:
    shutil.copy(example / "toy_dit.json", tmp_path)
    shutil.copy(example / "toy_dataset.json", tmp_path)  # its `data/toy` does not exist here
    result = check(tmp_path)
    assert result.exit_code == 1 and "data/toy" in result.stderr and result.heavy == []


def _fake_checkpoint(folder: Path, step: int, config: dict) -> None:
    """A run folder as `run` leaves it: `step_N.ckpt` (never read by the dry run) and its exported twin, whose
    safetensors header carries the config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"step_{step:07d}.ckpt").write_bytes(b"not read by run --check")
    header = json.dumps({"__metadata__": {"model_config": json.dumps(config)}}).encode()
    (folder / f"step_{step:07d}.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)


def test_resume_safety_is_judged_from_the_exported_config(example: Path, tmp_path: Path) -> None:
    for name in ("toy_dit.json", "toy_dataset.json"):
        shutil.copy(example / name, tmp_path)
    (tmp_path / "data").symlink_to(example / "data")
    config = json.loads((tmp_path / "toy_dit.json").read_text())
    changed = json.loads(json.dumps(config))
    changed["model"]["diffusion"]["config"]["depth"] = config["model"]["diffusion"]["config"]["depth"] + 1
    _fake_checkpoint(tmp_path / "runs/a/checkpoints", 20, changed)

    fresh = check(tmp_path)  # checkpoints exist, and no --resume was given
    assert fresh.exit_code == 1 and "already holds checkpoints" in fresh.stderr
    unsafe = check(tmp_path, "--resume")
    assert unsafe.exit_code == 1 and "AD804" in unsafe.stderr and "/model/diffusion/config/depth" in unsafe.stderr
    assert unsafe.heavy == []
    _fake_checkpoint(tmp_path / "runs/a/checkpoints", 30, config)
    safe = check(tmp_path, "--resume")
    assert safe.exit_code == 0, safe.stderr
    assert "resume from `step_0000030.ckpt` checked" in safe.stdout and safe.heavy == []
