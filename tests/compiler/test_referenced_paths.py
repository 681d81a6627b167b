"""AD020: file paths a config names are looked up where the runtime looks for them."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from audiodiff.cli.app import app
from audiodiff.compiler.pipeline import check_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example_tree(tmp_path: Path, *, with_manifest: bool) -> Path:
    root = tmp_path / "examples"
    root.mkdir()
    for name in ("toy_dataset.json", "toy_dit.json"):
        shutil.copy(EXAMPLES / name, root / name)
    data = root / "data" / "toy"  # what `make_toy_dataset.py` writes: the clips and, beside them, the manifest
    data.mkdir(parents=True)
    if with_manifest:
        (data / "metadata.jsonl").write_text('{"path": "tone_0.wav", "class": "tone"}\n', encoding="utf-8")
    return root


def test_manifest_is_found_in_its_dataset_folder_from_any_working_folder(tmp_path: Path, monkeypatch) -> None:
    root = _example_tree(tmp_path, with_manifest=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert [d.code.id for d in check_file(root / "toy_dataset.json").diagnostics] == []
    result = CliRunner().invoke(app, ["validate", "--strict", str(root)])
    assert result.exit_code == 0, result.output


def test_missing_manifest_is_still_reported(tmp_path: Path, monkeypatch) -> None:
    root = _example_tree(tmp_path, with_manifest=False)
    monkeypatch.chdir(tmp_path)
    found = [(d.code.id, d.pointer) for d in check_file(root / "toy_dataset.json").diagnostics]
    assert found == [("AD020", "/datasets/0/manifest")]
    assert CliRunner().invoke(app, ["validate", "--strict", str(root)]).exit_code == 1
