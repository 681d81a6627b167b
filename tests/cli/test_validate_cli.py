"""`audiodiff validate`: exit codes, the JSON and text formats of ARCHITECTURE.md, and no traceback for any input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiodiff.cli.app import app

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"
VALID = CORPUS / "valid"
INVALID = CORPUS / "invalid"

CLEAN = VALID / "dit_minimal.json"
ERROR_CASE = INVALID / "ad201-unknown-conditioner-id" / "config.json"  # one error, with a did-you-mean help
WARNING_CASE = INVALID / "ad317-causal-attention" / "config.json"  # one warning, no error

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["validate", *args], catch_exceptions=False)


def case_files() -> list[Path]:
    return sorted(p for folder in INVALID.iterdir() for p in folder.iterdir() if p.name.startswith("config."))


# --- exit codes -------------------------------------------------------------------------------------------------------


def test_clean_file_exits_0() -> None:
    result = invoke(str(CLEAN))
    assert result.exit_code == 0, result.output
    assert "All checks passed (1 file)." in result.stdout


def test_error_exits_1() -> None:
    assert invoke(str(ERROR_CASE)).exit_code == 1


def test_missing_file_is_a_diagnostic_not_a_usage_error(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "absent.json"), "--format", "json")
    assert result.exit_code == 1
    assert [d["code"] for d in json.loads(result.stdout)["files"][0]["diagnostics"]] == ["AD001"]


def test_warnings_pass_unless_strict() -> None:
    assert invoke(str(WARNING_CASE)).exit_code == 0
    assert invoke(str(WARNING_CASE), "--strict").exit_code == 1
    assert invoke(str(CLEAN), "--strict").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus", str(CLEAN)],  # unknown option
        ["--format", "xml", str(CLEAN)],  # unknown format
        [],  # no path at all
    ],
    ids=["unknown-option", "bad-format", "no-path"],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, ["validate", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_one_error_among_clean_files_exits_1() -> None:
    assert invoke(str(CLEAN), str(ERROR_CASE), str(VALID / "dataset_wds.yaml")).exit_code == 1


# --- the JSON format --------------------------------------------------------------------------------------------------

DIAGNOSTIC_KEYS = {"code", "name", "severity", "message", "pointer", "line", "column", "help"}


def test_json_output_has_the_documented_shape() -> None:
    result = invoke(str(ERROR_CASE), str(CLEAN), "--format", "json")
    document = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    assert set(document) == {"files", "errors", "warnings"}
    assert [f["path"] for f in document["files"]] == [str(ERROR_CASE), str(CLEAN)]
    bad, good = document["files"]
    assert set(bad) == {"path", "valid", "diagnostics"}
    assert bad["valid"] is False and good == {"path": str(CLEAN), "valid": True, "diagnostics": []}
    (diagnostic,) = bad["diagnostics"]
    assert DIAGNOSTIC_KEYS <= set(diagnostic) <= DIAGNOSTIC_KEYS | {"related"}
    assert diagnostic["code"] == "AD201"
    assert diagnostic["name"] == "unknown-conditioner-id"
    assert diagnostic["severity"] == "error"
    assert diagnostic["message"] == "`promt` is not a declared conditioner id"
    assert diagnostic["pointer"] == "/model/diffusion/cross_attention_cond_ids/0"
    line = ERROR_CASE.read_text().splitlines()[diagnostic["line"] - 1]
    assert line[diagnostic["column"] - 1 :].startswith('"promt"')
    assert diagnostic["help"] == "did you mean `prompt`?"
    for related in diagnostic.get("related", []):
        # a note about another file adds its `path`; one about the same file does not repeat it
        keys = {"message", "pointer", "line", "column"}
        assert keys <= set(related) <= keys | {"path"}
        assert related.get("path") != bad["path"]
    assert (document["errors"], document["warnings"]) == (1, 0)


def test_json_counts_warnings_and_nulls_unknown_positions(tmp_path: Path) -> None:
    result = invoke(str(WARNING_CASE), str(tmp_path / "absent.yaml"), "--format", "json")
    document = json.loads(result.stdout)
    assert (document["errors"], document["warnings"]) == (1, 1)
    warning = document["files"][0]["diagnostics"][0]
    assert (warning["code"], warning["severity"]) == ("AD317", "warning")
    missing = document["files"][1]["diagnostics"][0]
    assert missing["line"] is None and missing["column"] is None
    assert missing["pointer"] == ""  # the documented format: always a string, the root for the file as a whole


def test_json_pointer_of_parse_errors_is_the_root() -> None:
    result = invoke(
        str(INVALID / "ad006-json-syntax-error" / "config.json"),
        str(INVALID / "ad007-yaml-syntax-error" / "config.yaml"),
        "--format",
        "json",
    )
    found = [(d["code"], d["pointer"]) for entry in json.loads(result.stdout)["files"] for d in entry["diagnostics"]]
    assert ("AD006", "") in found and ("AD007", "") in found


def test_json_output_over_the_whole_corpus_matches_each_case() -> None:
    """One run over every case: one document, and each file carries the codes its expected.json lists."""
    files = case_files()
    result = runner.invoke(app, ["validate", *map(str, files), "--format", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert len(document["files"]) == len(files)
    for entry, path in zip(document["files"], files):
        expected = json.loads((path.parent / "expected.json").read_text())
        codes_found = {d["code"] for d in entry["diagnostics"]}
        assert {item["code"] for item in expected["diagnostics"]} <= codes_found, path.parent.name
        for diagnostic in entry["diagnostics"]:
            assert DIAGNOSTIC_KEYS <= set(diagnostic)
            assert diagnostic["pointer"] == "" or diagnostic["pointer"].startswith("/")


# --- the text format --------------------------------------------------------------------------------------------------

HEADLINE = re.compile(
    r"^(?P<path>.+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning) (?P<code>AD\d{3}) "
    r"\[(?P<name>[a-z0-9-]+)\] (?P<message>.+)$"
)


def test_text_output_has_the_documented_layout() -> None:
    result = invoke(str(ERROR_CASE))
    lines = result.stdout.splitlines()
    head = HEADLINE.match(lines[0])
    assert head, lines[0]
    assert head["path"] == str(ERROR_CASE)
    assert (head["severity"], head["code"], head["name"]) == ("error", "AD201", "unknown-conditioner-id")
    assert head["message"] == "`promt` is not a declared conditioner id"
    number, column = head["line"], int(head["column"])
    gutter = " " * len(number)
    source_line = ERROR_CASE.read_text().splitlines()[int(number) - 1]
    assert lines[1] == f"{gutter} |"
    assert lines[2] == f"{number} | {source_line}"
    caret = lines[3]
    assert caret.startswith(f"{gutter} | ")
    marks = caret[len(gutter) + 3 :]
    assert marks.index("^") == column - 1 and marks.strip() == "^" * len('"promt"')
    assert f"{gutter} = at: /model/diffusion/cross_attention_cond_ids/0" in lines
    assert f"{gutter} = help: did you mean `prompt`?" in lines
    assert lines[-1] == "Found 1 error and 0 warnings in 1 file."


def test_text_output_reports_every_diagnostic_of_a_file() -> None:
    case = INVALID / "many-rule-errors-one-pass" / "config.json"
    expected = json.loads((case.parent / "expected.json").read_text())["diagnostics"]
    headlines = [HEADLINE.match(line) for line in invoke(str(case)).stdout.splitlines()]
    found = {(m["code"], int(m["line"])) for m in headlines if m}
    assert {(item["code"], item["line"]) for item in expected} <= found


def test_verbose_adds_a_docs_link() -> None:
    assert "= docs: " in invoke(str(ERROR_CASE), "-v").stdout
    assert "= docs: " not in invoke(str(ERROR_CASE)).stdout


# --- no traceback, whatever the input -------------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["text", "json"])
def test_no_traceback_for_any_corpus_file(format: str) -> None:
    paths = case_files() + sorted(p for p in VALID.iterdir() if p.suffix in (".json", ".yaml"))
    result = runner.invoke(app, ["validate", *map(str, paths), "--format", format])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_real_process_prints_one_json_document_and_no_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-m", "audiodiff", "validate", str(ERROR_CASE), str(CLEAN), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    document = json.loads(completed.stdout)
    assert [f["valid"] for f in document["files"]] == [False, True]
    assert document["errors"] == 1
