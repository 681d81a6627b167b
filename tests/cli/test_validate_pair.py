"""`validate MODEL DATASET`: given one model and one dataset config, the rules between them that `run` applies are
checked too (AD520: pre-encoded on one side only), without importing torch."""

from __future__ import annotations

import json
from pathlib import Path

from cli_process import run_audiodiff
from typer.testing import CliRunner

from audiodiff.cli.app import app

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "toy_dit.json"
runner = CliRunner()


def _dataset(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.json"
    path.write_text(
        json.dumps(
            {"schema_version": 2, "dataset_type": kind, "datasets": [{"id": "clips", "path": str(folder)}]}, indent=2
        )
    )
    return path


def _codes(output: str) -> dict[str, list[str]]:
    document = json.loads(output)
    return {Path(f["path"]).name: [d["code"] for d in f["diagnostics"]] for f in document["files"]}


def test_pre_encoded_on_the_dataset_side_only_is_ad520(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "pre_encoded")
    result = runner.invoke(app, ["validate", str(MODEL), str(dataset), "--format", "json"])
    assert result.exit_code == 1
    assert _codes(result.stdout) == {"toy_dit.json": [], "pre_encoded.json": ["AD520"]}
    alone = runner.invoke(app, ["validate", str(dataset)])  # each file alone is valid
    assert alone.exit_code == 0, alone.output


def test_pre_encoded_on_the_model_side_only_is_ad520_in_either_order(tmp_path: Path) -> None:
    config = json.loads(MODEL.read_text())
    config["training"]["pre_encoded"] = True
    model = tmp_path / "model.json"
    model.write_text(json.dumps(config, indent=2))
    dataset = _dataset(tmp_path, "audio_dir")
    result = runner.invoke(app, ["validate", str(dataset), str(model), "--format", "json"])
    assert result.exit_code == 1
    assert _codes(result.stdout)["audio_dir.json"] == ["AD520"]


def test_a_matching_pair_passes_and_stays_torch_free(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "audio_dir")
    result = run_audiodiff("validate", str(MODEL), str(dataset))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.heavy == []


def test_two_models_and_a_dataset_are_not_paired(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "pre_encoded")
    other = tmp_path / "other.json"
    other.write_text(MODEL.read_text())
    result = runner.invoke(app, ["validate", str(MODEL), str(other), str(dataset), "--format", "json"])
    assert result.exit_code == 0, result.output  # which model would the dataset pair with? none is guessed
