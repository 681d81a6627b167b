"""The regression corpus: adding a case is dropping a folder into `invalid/` (or a file into `valid/`).

`valid/*.json|yaml` must validate with no diagnostic at all. Each `invalid/<case>/` holds one `config.*` and an
`expected.json`:

    {"about": "...",                                  optional, for readers
     "diagnostics": [{"code": "AD201", "pointer": "/model/...", "line": 40}, ...],
     "also": ["AD502"],                               codes allowed beside the listed ones (optional)
     "structural": true,                              JSON Schema must reject it too (tests/schema/test_export.py)
     "valid_neighbour": "dit_minimal.json",           the same config with the contract satisfied (optional)
     "upstream": [{"code": "AD318", ...}]}            what `--target stable-audio-tools` reports instead (optional)

Every listed diagnostic must appear with that code, pointer and line (and `severity`, where an item gives one); any
other diagnostic fails the case unless its code is under `also`, so a new finding on an old case is a deliberate change.
Every case runs under both targets: under `stable-audio-tools` the `upstream` list replaces `diagnostics` when given.
Valid configs must be clean under both targets, but for the warning that the reference cannot build a type for any
config (codes whose `upstream.always` is set).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiodiff.compiler.pipeline import check_file
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.target import DEFAULT_TARGET, UPSTREAM_TARGET, Target
from audiodiff.schema.source import MAX_FILE_BYTES
from audiodiff.schema.views import backbone_of, conditioning_of

CORPUS = Path(__file__).resolve().parent
VALID = sorted(p for p in (CORPUS / "valid").iterdir() if p.suffix in (".json", ".yaml", ".yml"))
CASES = sorted(p for p in (CORPUS / "invalid").iterdir() if p.is_dir())
EXPECTED_KEYS = {"about", "diagnostics", "also", "structural", "valid_neighbour", "upstream"}
TARGETS = [DEFAULT_TARGET, UPSTREAM_TARGET]
# a warning a valid config may still draw: the reference cannot build its type for any config (e.g. DAU1d)
ALWAYS_UPSTREAM = {code.id for code in codes.CODES.values() if code.upstream is not None and code.upstream.always}

# Codes that a committed file in a case folder cannot produce; each has its own test below.
RUNTIME_ONLY = {
    "AD001": "the file must be absent",
    "AD002": "the path itself must be unreadable",
    "AD004": "the file must exceed 16 MiB",
    "AD017": "a folder that cannot be listed (tests/hostile/test_files_and_walks.py)",
    "AD018": "more diagnostics than a file may report (tests/hostile/test_bounded_reports.py)",
}
# Codes `validate` never emits for a single file.
NOT_VALIDATE_FAMILIES = ("AD7", "AD8", "AD9")  # lint advice, runtime faults, migrations
NOT_VALIDATE = {
    "AD610": "buildability is decided when materialising",
    "AD612": "buildability is decided when materialising",
    "AD613": "buildability is decided when materialising",
    "AD614": "compares the analytic parameter count with modules that only materialising builds",
    "AD520": "needs a model config and a dataset config together (`run --dataset`)",
}


def case_config(folder: Path) -> Path:
    configs = [p for p in folder.iterdir() if p.name.startswith("config.")]
    assert len(configs) == 1, f"{folder.name}: expected exactly one config.* file, found {configs}"
    return configs[0]


def load_expected(folder: Path) -> dict:
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert set(expected) <= EXPECTED_KEYS, f"{folder.name}: unknown keys {set(expected) - EXPECTED_KEYS}"
    assert isinstance(expected["structural"], bool)
    assert expected["diagnostics"], f"{folder.name}: a case lists at least one diagnostic"
    for item in expected["diagnostics"] + expected.get("upstream", []):
        assert {"code", "pointer", "line"} <= set(item) <= {"code", "pointer", "line", "severity"}, (
            f"{folder.name}: {item}"
        )
        assert item["code"] in codes.CODES, f"{folder.name}: unknown code {item['code']}"
    for code in expected.get("also", []):
        assert code in codes.CODES, f"{folder.name}: unknown code {code} under `also`"
    return expected


def located(diagnostic) -> tuple[str, str | None, int | None]:
    return diagnostic.code.id, diagnostic.pointer, diagnostic.span.line if diagnostic.span else None


def describe(diagnostics) -> str:
    return "\n".join(
        f"  {d.code.id} {d.effective_severity.value} {d.pointer} line {located(d)[2]}: {d.message}" for d in diagnostics
    )


def expected_for(expected: dict, target: Target) -> list[dict]:
    return expected.get("upstream", expected["diagnostics"]) if target.upstream else expected["diagnostics"]


@pytest.mark.parametrize("target", TARGETS, ids=str)
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_config_is_clean(path: Path, target: Target) -> None:
    check = check_file(path, target=target)
    found = [d for d in check.diagnostics if d.is_error or d.code.id not in ALWAYS_UPSTREAM]
    assert found == [], f"{path.name} should validate cleanly for {target}:\n{describe(check.diagnostics)}"
    assert check.schema is not None and check.schema.ok
    if check.kind == "model":
        assert check.graph is not None, "a clean model config lowers to a graph"


@pytest.mark.parametrize("target", TARGETS, ids=str)
@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_invalid_case(folder: Path, target: Target) -> None:
    expected = load_expected(folder)
    check = check_file(case_config(folder), target=target)
    actual = [located(d) for d in check.diagnostics]
    items = expected_for(expected, target)
    for item in items:
        wanted = (item["code"], item["pointer"], item["line"])
        assert wanted in actual, f"{folder.name} ({target}): missing {wanted}; got:\n{describe(check.diagnostics)}"
        if "severity" in item:
            severities = {d.effective_severity.value for d in check.diagnostics if located(d) == wanted}
            assert severities == {item["severity"]}, f"{folder.name} ({target}): {wanted} is {severities}"
    listed = {(item["code"], item["pointer"]) for item in items}
    also = set(expected.get("also", []))
    surprises = [d for d in check.diagnostics if (d.code.id, d.pointer) not in listed and d.code.id not in also]
    assert not surprises, f"{folder.name} ({target}): diagnostics the case does not list:\n{describe(surprises)}"


def test_default_target_warns_where_the_upstream_target_fails() -> None:
    """Every case whose upstream expectation is an error for a code with an upstream record, but that audiodiff can run,
    lists the same finding as a warning under the default target, and both messages name the reference's version."""
    pairs = 0
    for folder in CASES:
        expected = load_expected(folder)
        for item in expected.get("upstream", []):
            code = codes.CODES[item["code"]]
            if code.upstream is None or code.upstream.always or code.severity != "warning":
                continue
            assert item.get("severity") == "error", f"{folder.name}: {item}"
            default = [
                d for d in expected["diagnostics"] if (d["code"], d["pointer"]) == (item["code"], item["pointer"])
            ]
            assert [d.get("severity") for d in default] == ["warning"], f"{folder.name}: default target must warn"
            for target in TARGETS:
                messages = [
                    d.message
                    for d in check_file(case_config(folder), target=target).diagnostics
                    if (d.code.id, d.pointer) == (item["code"], item["pointer"])
                ]
                assert messages and all(codes.UPSTREAM_LABEL in m for m in messages), (folder.name, target, messages)
            pairs += 1
    assert pairs >= 5, "the corpus shows the two judgements side by side for several codes"


def test_every_code_validate_can_emit_has_a_case() -> None:
    """Adding a code to the table without a corpus case (or a runtime test here) fails this test."""
    emittable = {
        code for code in codes.CODES if not code.startswith(NOT_VALIDATE_FAMILIES) and code not in NOT_VALIDATE
    }
    covered = {item["code"] for folder in CASES for item in load_expected(folder)["diagnostics"]}
    covered_upstream = {
        item["code"] for folder in CASES for item in expected_for(load_expected(folder), UPSTREAM_TARGET)
    }
    upstream_only = {code for code in emittable if codes.CODES[code].upstream is not None}
    assert not upstream_only - covered_upstream, (
        f"codes without an upstream-target case: {upstream_only - covered_upstream}"
    )
    missing = sorted(emittable - covered - set(RUNTIME_ONLY))
    assert not missing, f"codes without an invalid case: {missing}"
    assert set(RUNTIME_ONLY) <= emittable


def test_every_contract_case_has_a_valid_neighbour() -> None:
    """A graph-contract case is only convincing beside the same config with the contract satisfied."""
    valid_names = {p.name for p in VALID}
    contract_codes = {code for code in codes.CODES if code.startswith("AD6")} - set(NOT_VALIDATE)
    seen = set()
    for folder in CASES:
        expected = load_expected(folder)
        case_codes = {item["code"] for item in expected["diagnostics"]}
        if case_codes & contract_codes:
            neighbour = expected.get("valid_neighbour")
            assert neighbour in valid_names, f"{folder.name}: `valid_neighbour` must name a file in valid/"
            seen |= case_codes & contract_codes
    assert seen == contract_codes, f"contract codes without a neighboured case: {sorted(contract_codes - seen)}"


def test_valid_corpus_spans_the_config_surface() -> None:
    checks = [check_file(path) for path in VALID]
    specs = [check.spec for check in checks]
    model_specs = [spec for spec, check in zip(specs, checks) if check.kind == "model"]
    assert {spec.model_type for spec in model_specs} == {
        "diffusion_cond",
        "diffusion_cond_inpaint",
        "diffusion_uncond",
        "autoencoder",
    }
    backbones = {backbone_of(spec).type for spec in model_specs if backbone_of(spec)}
    assert backbones >= {"dit", "adp_cfg_1d", "adp_1d", "DAU1d"}
    conditioners = {
        entry.type for spec in model_specs if conditioning_of(spec) for entry in conditioning_of(spec).configs
    }
    assert conditioners >= {"t5", "number", "int", "list", "pretransform"}
    pretransforms = {
        spec.model.pretransform.type
        for spec in model_specs
        if spec.model_type != "autoencoder" and spec.model.pretransform is not None
    }
    assert pretransforms >= {"autoencoder", "wavelet", "patched"}
    assert {spec.dataset_type for spec, check in zip(specs, checks) if check.kind == "dataset"} >= {
        "audio_dir",
        "pre_encoded",
        "s3",
    }
    assert {path.suffix for path in VALID} == {".json", ".yaml"}


def test_case_folders_mix_json_and_yaml() -> None:
    suffixes = {case_config(folder).suffix for folder in CASES}
    assert {".json", ".yaml"} <= suffixes


# --- codes a committed file cannot produce --------------------------------------------------------------------------


def test_missing_file_is_ad001(tmp_path: Path) -> None:
    check = check_file(tmp_path / "model_config.json")
    assert [located(d) for d in check.diagnostics] == [("AD001", None, None)]
    assert check.document is None and check.has_errors


def test_folder_instead_of_file_is_ad001(tmp_path: Path) -> None:
    folder = tmp_path / "configs.json"
    folder.mkdir()
    assert [d.code.id for d in check_file(folder).diagnostics] == ["AD001"]


def test_unreadable_path_is_ad002() -> None:
    check = check_file("model\x00config.json")  # no file system accepts a NUL byte in a name
    assert [located(d) for d in check.diagnostics] == [("AD002", None, None)]


def test_oversized_file_is_ad004(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)  # sparse: the size alone decides, nothing is read
    check = check_file(path)
    assert [located(d) for d in check.diagnostics] == [("AD004", None, None)]
