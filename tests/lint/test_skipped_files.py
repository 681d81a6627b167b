"""What lint does with files that are not (or no longer) readable configs: each is reported or listed as skipped
with its reason, and a file an `include` pattern names is always checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiodiff.cli.app import app

runner = CliRunner()
CLEAN = (Path(__file__).resolve().parents[1] / "corpus" / "valid" / "dit_minimal.json").read_text(encoding="utf-8")


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "repo"
    configs = root / "configs"
    configs.mkdir(parents=True)
    (root / ".git").mkdir()  # settings are looked up to here and no further
    (configs / "good.json").write_text(CLEAN, encoding="utf-8")
    (configs / "empty.json").write_bytes(b"")
    (configs / "binary.json").write_bytes(bytes(range(256)) * 4)
    (configs / "utf16.json").write_bytes(CLEAN.encode("utf-16"))  # with its byte-order mark
    (configs / "utf16-no-bom.yaml").write_bytes("model_type: diffusion_cond\n".encode("utf-16-le"))
    (configs / "truncated.json").write_text(CLEAN[: len(CLEAN) // 2], encoding="utf-8")  # a bad merge, cut short
    (configs / "package.json").write_text('{"name": "not-a-config", "version": "1.0.0"}', encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def lint_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["lint", ".", "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_every_file_is_reported_or_skipped_with_a_reason(tree: Path) -> None:
    code, report = lint_json()
    assert code == 1
    reported = {
        entry["path"]: [d["code"] for d in entry["diagnostics"] if d["severity"] == "error"]
        for entry in report["files"]
    }
    skipped = {item["path"]: item["reason"] for item in report["skipped"]}
    assert reported == {
        "configs/good.json": [],
        "configs/truncated.json": ["AD006"],  # it still says `model_type`: a broken config, an error
        "configs/utf16.json": ["AD005"],  # UTF-16 is not skipped for hiding the words from a byte search
        "configs/utf16-no-bom.yaml": ["AD007"],  # without a byte-order mark it decodes, with NULs YAML refuses
    }
    assert skipped == {
        "configs/binary.json": "binary content (NUL bytes)",
        "configs/empty.json": "empty file",
        "configs/package.json": "no `model_type` or `dataset_type` key",
    }
    every = {path.relative_to(tree).as_posix() for path in (tree / "configs").iterdir()}
    assert set(reported) | set(skipped) == every
    assert all(
        d["pointer"] == ""
        for entry in report["files"]
        if entry["path"] != "configs/good.json"
        for d in entry["diagnostics"]
    )  # parse errors are about the root: a string, never null


def test_verbose_text_lists_the_skipped_files(tree: Path) -> None:
    quiet = runner.invoke(app, ["lint", "."])
    assert "Skipped 3 files that are not a model or dataset config (`-v` lists them)." in quiet.stdout
    assert "empty file" not in quiet.stdout
    verbose = runner.invoke(app, ["lint", ".", "-v"]).stdout
    assert "Skipped 3 files that are not a model or dataset config:" in verbose
    for line in (
        "  configs/empty.json: empty file",
        "  configs/binary.json: binary content (NUL bytes)",
        "  configs/package.json: no `model_type` or `dataset_type` key",
    ):
        assert line in verbose.splitlines()


def test_included_files_are_always_checked(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[tool.audiodiff]\ninclude = ["configs/"]\n', encoding="utf-8")
    code, report = lint_json()
    assert code == 1 and report["skipped"] == []
    reported = {entry["path"]: {d["code"] for d in entry["diagnostics"]} for entry in report["files"]}
    assert reported["configs/empty.json"] == {"AD015"}
    assert reported["configs/binary.json"] == {"AD005"}
    assert reported["configs/package.json"] == {"AD014"}
    assert all(not entry["valid"] for entry in report["files"] if entry["path"] != "configs/good.json")


def test_include_patterns_use_gitignore_syntax(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[tool.audiodiff]\ninclude = ["empty.json"]\n', encoding="utf-8")
    _, report = lint_json()
    assert {item["path"] for item in report["skipped"]} == {"configs/binary.json", "configs/package.json"}
    assert "configs/empty.json" in {entry["path"] for entry in report["files"]}


def test_include_must_be_a_list_of_strings(tree: Path) -> None:
    (tree / "pyproject.toml").write_text("[tool.audiodiff]\ninclude = 3\n", encoding="utf-8")
    result = runner.invoke(app, ["lint", "."])
    assert result.exit_code == 2 and "`include` must be a list of strings" in result.stderr
