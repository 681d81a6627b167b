"""Every output format on one small tree, against golden files; the machine formats also parsed and checked.

The tree (tests/render/tree) holds errors with related places, warnings, a cross-file rule, a YAML syntax error, a
file name with a space and a comma, and a file that is not a config. Regenerate the golden files after an
intended change with `AUDIODIFF_UPDATE_GOLDEN=1 pytest tests/render`.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from audiodiff import __version__
from audiodiff.cli.app import app

HERE = Path(__file__).resolve().parent
TREE = HERE / "tree"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("AUDIODIFF_UPDATE_GOLDEN") == "1"

FORMATS = {
    "text": ("lint.txt", []),
    "text-verbose": ("lint-verbose.txt", ["-v"]),
    "json": ("lint.json", ["--format", "json"]),
    "github": ("lint.github.txt", ["--format", "github"]),
    "sarif": ("lint.sarif", ["--format", "sarif"]),
    "junit": ("lint.junit.xml", ["--format", "junit"]),
}


def _lint(monkeypatch, args: list[str]) -> str:
    monkeypatch.chdir(TREE)
    result = CliRunner().invoke(app, ["lint", ".", *args])
    assert result.exit_code == 1, result.output  # the tree has errors
    return result.stdout.replace(__version__, "VERSION")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format_matches_golden(name, monkeypatch):
    golden_name, args = FORMATS[name]
    output = _lint(monkeypatch, args)
    golden = GOLDEN / golden_name
    if UPDATE:
        golden.write_text(output, encoding="utf-8")
    assert output == golden.read_text(encoding="utf-8")


def test_json_counts(monkeypatch):
    report = json.loads(_lint(monkeypatch, ["--format", "json"]))
    assert len(report["files"]) == 6
    assert report["skipped"] == [{"path": "notes.json", "reason": "no `model_type` or `dataset_type` key"}]
    assert (report["errors"], report["warnings"]) == (3, 8)
    assert sorted(entry["path"] for entry in report["files"] if not entry["valid"]) == [
        "datasets/broken.yaml",
        "models/dit heads, v2.json",
        "models/dit_typo.json",
    ]


def test_sarif_is_valid_sarif_2_1_0(monkeypatch):
    log = json.loads(_lint(monkeypatch, ["--format", "sarif"]))
    schema = json.loads((HERE / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [rule["id"] for rule in rules] == sorted({result["ruleId"] for result in results})
    assert all(
        rule["helpUri"].endswith("docs/codes.md#" + rule["id"].lower()) and rule["help"]["text"] for rule in rules
    )
    assert len(results) == 11
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["region"]["startLine"] >= 1
        assert not location["artifactLocation"]["uri"].startswith("/")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert "models/dit%20heads%2C%20v2.json" in uris


def test_junit_parses_and_counts_match(monkeypatch):
    root = ElementTree.fromstring(_lint(monkeypatch, ["--format", "junit"]))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == 6
    failing = [case for case in cases if case.find("failure") is not None]
    assert int(suite.get("failures")) == int(root.get("failures")) == len(failing) == 3
    typo = next(case for case in cases if case.get("name") == "models/dit_typo.json")
    failure = typo.find("failure")
    assert failure.get("type") == "AD201" and failure.get("message") == "1 error and 2 warnings"
    assert "AD201 [unknown-conditioner-id]" in failure.text and "AD703" in failure.text
    uncond = next(case for case in cases if case.get("name") == "models/uncond.yaml")
    assert uncond.find("failure") is None and "AD702" in uncond.find("system-out").text


def test_github_annotations(monkeypatch):
    lines = _lint(monkeypatch, ["--format", "github"]).splitlines()
    assert len(lines) == 11
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)
    typo = next(line for line in lines if "AD201" in line)
    assert typo.startswith(
        "::error file=models/dit_typo.json,line=19,col=36,endLine=19,endColumn=43,"
        "title=AD201 unknown-conditioner-id::`promt` is not a declared conditioner id%0A"
    )
    assert "help: did you mean `prompt`?" in typo
    # `,` and `:` are escaped in properties so the file name with a comma survives
    assert any(line.startswith("::error file=models/dit heads%2C v2.json,") for line in lines)
