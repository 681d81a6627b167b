"""The exported JSON Schema against audiodiff's own validator (a differential test).

A plain reader (`json` / `yaml.safe_load`, strict JSON numbers) plus `jsonschema` (Draft 2020-12) must accept every
valid corpus config and every shipped stable-audio-tools config, reject every invalid case marked `structural`, and
accept the cases that break only cross-field rules, which JSON Schema cannot express.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from shared_paths import CORPUS as SHARED_CORPUS
from shared_paths import SKIP_HINT
from typer.testing import CliRunner

from audiodiff.cli.app import app
from audiodiff.schema.export import SCHEMA_DIALECT, export
from audiodiff.schema.versions import DIALECT_VERSION, KNOWN_VERSIONS, LATEST_VERSION

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"
VALID = sorted(p for p in (CORPUS / "valid").iterdir() if p.suffix in (".json", ".yaml", ".yml"))
CASES = sorted(p for p in (CORPUS / "invalid").iterdir() if p.is_dir())
SHARED = SHARED_CORPUS

# codes of cross-field rules and graph contracts: a case made only of these is structurally sound
RULE_FAMILIES = ("AD2", "AD3", "AD4", "AD5", "AD6")
STRUCTURAL_RULE_CODES = {"AD301", "AD309", "AD411", "AD412"}  # schema-stage findings that carry a rule's code


class Rejected(Exception):
    """The plain reader could not turn the file into JSON data."""


@lru_cache(maxsize=None)
def validator(kind: str, version: int) -> jsonschema.Draft202012Validator:
    schema = export(kind, version)  # type: ignore[arg-type]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validator_for(data: Any) -> jsonschema.Draft202012Validator:
    """The schema a document claims: its kind, and its `schema_version` (absent: the version-1 dialect; a version
    audiodiff does not know: the newest, which rejects it)."""
    kind = "dataset" if isinstance(data, dict) and "dataset_type" in data else "model"
    declared = data.get("schema_version", DIALECT_VERSION) if isinstance(data, dict) else DIALECT_VERSION
    version = declared if declared in KNOWN_VERSIONS and not isinstance(declared, bool) else LATEST_VERSION
    return validator(kind, version)


def _reject_constant(name: str) -> Any:
    raise Rejected(f"`{name}` is not JSON")


def _assert_finite(node: Any) -> None:
    """Strict JSON has no NaN or infinity; aliases make YAML data a graph, so each container is visited once."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise Rejected("a non-finite number")
        if isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))
            stack.extend(value.values() if isinstance(value, dict) else value)


def plain_read(path: Path) -> Any:
    """What a generic tool would read: UTF-8, one JSON or YAML document, finite numbers."""
    try:
        text = path.read_bytes().decode("utf-8")
        if path.suffix == ".json":
            data = json.loads(text, parse_constant=_reject_constant)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise Rejected(f"`{path.suffix}` is not a config format")
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise Rejected(str(error)) from error
    _assert_finite(data)
    return data


def schema_accepts(path: Path) -> bool:
    try:
        data = plain_read(path)
    except Rejected:
        return False
    return validator_for(data).is_valid(data)


def schema_errors(path: Path) -> list[str]:
    data = plain_read(path)
    return [f"{error.json_path}: {error.message[:160]}" for error in validator_for(data).iter_errors(data)][:5]


def case_config(folder: Path) -> Path:
    (config,) = [p for p in folder.iterdir() if p.name.startswith("config.")]
    return config


def case_codes(folder: Path) -> tuple[bool, set[str]]:
    expected = json.loads((folder / "expected.json").read_text())
    codes_ = {item["code"] for item in expected["diagnostics"]} | set(expected.get("also", []))
    return expected["structural"], codes_


STRUCTURAL = [folder for folder in CASES if case_codes(folder)[0]]
RULE_ONLY = [
    folder
    for folder in CASES
    if not case_codes(folder)[0]
    and all(code.startswith(RULE_FAMILIES) or code == "AD020" for code in case_codes(folder)[1])
]


@pytest.mark.parametrize("version", KNOWN_VERSIONS)
def test_exported_schemas_are_draft_2020_12(version: int) -> None:
    for kind in ("model", "dataset"):
        schema = export(kind, version)  # type: ignore[arg-type]
        assert schema["$schema"] == SCHEMA_DIALECT
        validator(kind, version)  # check_schema raised otherwise


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_schema_accepts_the_valid_corpus(path: Path) -> None:
    assert schema_accepts(path), schema_errors(path)


@pytest.mark.parametrize("folder", STRUCTURAL, ids=lambda p: p.name)
def test_schema_rejects_structural_cases(folder: Path) -> None:
    assert not schema_accepts(case_config(folder)), "JSON Schema accepted a structurally broken config"


@pytest.mark.parametrize("folder", RULE_ONLY, ids=lambda p: p.name)
def test_schema_accepts_cases_that_break_only_cross_field_rules(folder: Path) -> None:
    """The schema is not stricter than audiodiff: what pydantic accepts structurally, JSON Schema accepts too."""
    assert schema_accepts(case_config(folder)), schema_errors(case_config(folder))


def test_the_differential_covers_both_sides() -> None:
    assert len(STRUCTURAL) >= 25 and len(RULE_ONLY) >= 40
    structural_codes = set().union(*(case_codes(folder)[1] for folder in STRUCTURAL))
    assert {"AD101", "AD102", "AD103", "AD104", "AD105", "AD106", "AD107", "AD108", "AD109"} <= structural_codes
    assert STRUCTURAL_RULE_CODES <= structural_codes


def _shared_configs() -> list[Path]:
    return sorted(SHARED.glob("*.json")) if SHARED.is_dir() else []


@pytest.mark.parametrize("path", _shared_configs() or [None], ids=lambda p: p.name if p else "absent")
def test_schema_accepts_the_shipped_configs(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no shared corpus at {SHARED} ({SKIP_HINT})")
    assert schema_accepts(path), schema_errors(path)


def test_cli_export_writes_the_same_schema(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["schema", "export"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == export("model")
    target = tmp_path / "dataset.schema.json"
    result = runner.invoke(app, ["schema", "export", "--kind", "dataset", "-o", str(target)])
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text()) == export("dataset")
    assert runner.invoke(app, ["schema", "export", "--kind", "lm"]).exit_code == 2
