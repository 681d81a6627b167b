"""`audiodiff lint` over a generated repository of 1,000 configs, in one process."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from config_tree import build_tree
from typer.testing import CliRunner

from audiodiff.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_tree(tmp_path_factory.mktemp("lint") / "repo", configs=1000)


def test_lints_a_thousand_configs_in_one_run(tree, monkeypatch):
    monkeypatch.chdir(tree.root)
    result = runner.invoke(app, ["lint", ".", "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)

    files = report["files"]
    assert len(files) == tree.configs == 1000
    assert len(report["skipped"]) == tree.skipped == 100
    assert all(set(item) == {"path", "reason"} and item["reason"] for item in report["skipped"])
    paths = {entry["path"] for entry in files}
    assert paths == {str(path.relative_to(tree.root)) for path in tree.paths}
    assert not any(path.startswith("generated/") or path.endswith(".bak.json") for path in paths)

    invalid = [entry for entry in files if not entry["valid"]]
    assert len(invalid) == tree.invalid == 500
    files_with = Counter(
        code for entry in invalid for code in {d["code"] for d in entry["diagnostics"] if d["severity"] == "error"}
    )
    for code, count in tree.expected_codes.items():
        assert files_with[code] == count, code
    assert report["errors"] == sum(1 for entry in files for d in entry["diagnostics"] if d["severity"] == "error")
    # every diagnostic is located in its file (bench/lint_bench.py measures the speed)
    assert all(d["line"] is not None for entry in files for d in entry["diagnostics"])


def test_warnings_alone_pass_unless_strict(tree, monkeypatch):
    monkeypatch.chdir(tree.root)
    valid_only = ["--exclude", "*_0004.json"]  # keep the run small: one folder of valid files
    folder = "project0/models/group0"
    plain = runner.invoke(app, ["lint", folder, "--ignore", "AD1,AD2,AD3,AD006,AD102", *valid_only])
    assert plain.exit_code == 0, plain.output
    assert "warning AD703" in plain.stdout
    strict = runner.invoke(app, ["lint", folder, "--ignore", "AD1,AD2,AD3,AD006,AD102", "--strict", *valid_only])
    assert strict.exit_code == 1


def test_excludes_and_selection(tree, monkeypatch):
    monkeypatch.chdir(tree.root)
    everything = json.loads(runner.invoke(app, ["lint", ".", "--format", "json", "--exclude", "project[1-6]/"]).stdout)
    assert {entry["path"].split("/")[0] for entry in everything["files"]} == {"project0"}
    selected = json.loads(runner.invoke(app, ["lint", "project0", "--format", "json", "--select", "AD201"]).stdout)
    codes = {d["code"] for entry in selected["files"] for d in entry["diagnostics"]}
    assert codes == {"AD201"}
    assert len(selected["files"]) == len(everything["files"])  # selection filters diagnostics, not files
