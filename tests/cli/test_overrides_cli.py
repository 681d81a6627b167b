"""`--set PATH=VALUE` on validate, compile, run and sample: validated like the file, did-you-mean on the path, a
bad value located at the override, "command line" as its origin in explain, and the effective config trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_process import run_audiodiff
from typer.testing import CliRunner

from audiodiff.cli.app import app

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "toy_dit.json"
runner = CliRunner()


def test_a_valid_override_changes_what_is_compiled() -> None:
    plain = json.loads(runner.invoke(app, ["compile", str(MODEL), "--explain", "--format", "json"]).stdout)
    result = runner.invoke(
        app, ["compile", str(MODEL), "--explain", "--format", "json", "--set", "model.diffusion.config.depth=2"]
    )
    assert result.exit_code == 0, result.output
    overridden = json.loads(result.stdout)
    assert overridden["total_params"] < plain["total_params"]  # two blocks fewer
    assert json.loads(MODEL.read_text())["model"]["diffusion"]["config"]["depth"] == 4  # the file is untouched


def test_explain_names_the_command_line_as_the_origin() -> None:
    result = runner.invoke(
        app, ["compile", str(MODEL), "--explain", "--format", "json", "--set", "/model/diffusion/config/depth=2"]
    )
    settings = {s["pointer"]: s for s in json.loads(result.stdout)["settings"]}
    depth = settings["/model/diffusion/config/depth"]
    assert depth["value"] == 2 and depth["source"] == "command line (--set /model/diffusion/config/depth=2)"
    assert settings["/model/diffusion/config/num_heads"]["source"].startswith("line ")
    text = runner.invoke(app, ["compile", str(MODEL), "--explain", "--set", "model.diffusion.config.depth=2"])
    assert "command line (--set model.diffusion.config.depth=2)" in text.stdout


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_a_typo_in_the_path_gets_a_suggestion(command: str) -> None:
    result = runner.invoke(app, [command, str(MODEL), "--set", "model.difusion.config.depth=2"])
    assert result.exit_code == 1
    assert "--set model.difusion.config.depth=2: error AD807" in result.output
    assert "did you mean `diffusion`?" in result.output and "Traceback" not in result.output


def test_a_typo_in_the_last_key_is_the_schema_s_unknown_key_with_a_suggestion() -> None:
    result = runner.invoke(app, ["validate", str(MODEL), "--set", "model.diffusion.config.dpth=3"])
    assert result.exit_code == 1
    assert "--set model.diffusion.config.dpth=3: error AD101" in result.output
    assert "did you mean `depth`?" in result.output


def test_a_bad_value_is_located_at_the_override() -> None:
    result = runner.invoke(
        app, ["validate", str(MODEL), "--format", "json", "--set", 'model.diffusion.config.depth="deep"']
    )
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["files"]
    (diagnostic,) = entry["diagnostics"]
    assert diagnostic["code"] == "AD103" and diagnostic["pointer"] == "/model/diffusion/config/depth"
    assert diagnostic["line"] is None  # not a line of the file: the file says 4
    text = runner.invoke(app, ["validate", str(MODEL), "--set", 'model.diffusion.config.depth="deep"']).output
    assert text.startswith('--set model.diffusion.config.depth="deep": error AD103')


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["compile"],
        ["sample", "--ckpt", "m.safetensors", "-o", "a.wav"],
        ["run", "-d", "d.json", "--check"],
    ],
)
def test_a_malformed_override_is_a_usage_error(command: list[str]) -> None:
    args = [command[0], str(MODEL), *command[1:], "--set", "depth"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "PATH=VALUE" in result.output and "Traceback" not in result.output


def test_dataset_configs_are_not_overridden(tmp_path: Path) -> None:
    dataset = tmp_path / "d.json"
    dataset.write_text(json.dumps({"dataset_type": "audio_dir", "datasets": [{"id": "a", "path": str(tmp_path)}]}))
    result = runner.invoke(app, ["validate", str(MODEL), str(dataset), "--set", "model.diffusion.config.depth=2"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("example")
    for name in ("toy_dit.json", "toy_dataset.json"):
        shutil.copy(REPO / "examples" / name, folder / name)
    subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "make_toy_dataset.py"),
            str(folder / "data/toy"),
            "--clips-per-class",
            "1",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return folder


def test_run_check_applies_overrides(example: Path) -> None:
    base = ("run", "toy_dit.json", "-d", "toy_dataset.json", "--check")
    typo = run_audiodiff(*base, "--set", "training.learning_rat=1e-3", cwd=example)
    assert typo.exit_code == 1 and "did you mean `learning_rate`?" in typo.stderr
    good = run_audiodiff(*base, "--set", "training.learning_rate=3e-4", cwd=example)
    assert good.exit_code == 0, good.stderr
    assert good.heavy == []
