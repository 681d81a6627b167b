"""`--target` on validate, lint and compile, and `target` in `[tool.audiodiff]`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiodiff.cli.app import app

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
UPSTREAM_ONLY = CORPUS / "invalid" / "ad318-transformer-type-removed" / "config.json"  # x-transformers DiT

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def findings(output: str) -> list[tuple[str, str]]:
    return [(d["code"], d["severity"]) for entry in json.loads(output)["files"] for d in entry["diagnostics"]]


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_default_target_warns_and_upstream_target_fails(command: str, tmp_path: Path) -> None:
    config = tmp_path / "model.json"
    shutil.copy(UPSTREAM_ONLY, config)
    default = run(command, str(config), "--format", "json")
    assert default.exit_code == 0, default.output
    assert ("AD318", "warning") in findings(default.stdout)
    for target in ("stable-audio-tools", "stable-audio-tools==0.0.19"):
        upstream = run(command, str(config), "--format", "json", "--target", target)
        assert upstream.exit_code == 1, upstream.output
        assert ("AD318", "error") in findings(upstream.stdout)


def test_compile_takes_the_target(tmp_path: Path) -> None:
    config = tmp_path / "model.json"
    shutil.copy(UPSTREAM_ONLY, config)
    assert run("compile", str(config)).exit_code == 0
    result = run("compile", str(config), "--target", "stable-audio-tools")
    assert result.exit_code == 1
    assert "AD318" in result.stderr and "stable-audio-tools 0.0.19" in result.stderr


def test_pyproject_target_applies_and_the_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the settings search stops at a repository root
    (tmp_path / "pyproject.toml").write_text('[tool.audiodiff]\ntarget = "stable-audio-tools"\n')
    config = tmp_path / "model.json"
    shutil.copy(UPSTREAM_ONLY, config)
    for command in ("validate", "lint"):
        assert run(command, str(config)).exit_code == 1
        assert run(command, str(config), "--target", "audiodiff").exit_code == 0
    assert run("compile", str(config)).exit_code == 1


@pytest.mark.parametrize("command", ["validate", "lint", "compile"])
def test_unknown_target_is_a_usage_error(command: str, tmp_path: Path) -> None:
    config = tmp_path / "model.json"
    shutil.copy(UPSTREAM_ONLY, config)
    result = run(command, str(config), "--target", "stable-audio-tools==0.0.17")
    assert result.exit_code == 2
    assert "0.0.19 only" in result.stderr


def test_unknown_target_setting_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.audiodiff]\ntarget = "sat"\n')
    config = tmp_path / "model.json"
    shutil.copy(UPSTREAM_ONLY, config)
    result = run("validate", str(config))
    assert result.exit_code == 2 and "not a target runtime" in result.stderr
