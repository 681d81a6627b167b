"""Lint-only rules, suppression and `[tool.audiodiff]` settings, through the command as CI runs it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from config_tree import DATASET_PRE_ENCODED, DIT_COND
from typer.testing import CliRunner

from audiodiff.cli.app import app

runner = CliRunner()


def _write(folder: Path, name: str, data: dict | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def _lint(folder: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["lint", str(folder), "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _codes(report: dict, name: str) -> list[tuple[str, str | None]]:
    entry = next(e for e in report["files"] if e["path"].endswith(name))
    return [(d["code"], d["pointer"]) for d in entry["diagnostics"]]


def _v2(document: dict) -> dict:
    return {"schema_version": 2, **document}


def test_a_clean_version_two_config_has_nothing_to_say(tmp_path):
    _write(tmp_path, "model.json", _v2(DIT_COND))
    code, report = _lint(tmp_path)
    assert code == 0 and _codes(report, "model.json") == []


def test_unrouted_conditioner(tmp_path):
    document = copy.deepcopy(_v2(DIT_COND))
    document["model"]["diffusion"]["cross_attention_cond_ids"] = ["seconds_start", "seconds_total"]
    code, report = _lint(_write(tmp_path, "model.json", document).parent)
    assert code == 0
    assert _codes(report, "model.json") == [("AD701", "/model/conditioning/configs/0/id")]


def test_missing_schema_version_and_migration_advice(tmp_path):
    document = copy.deepcopy(DIT_COND)
    del document["training"]["use_ema"]
    del document["model"]["diffusion"]["config"]["transformer_type"]
    _write(tmp_path, "model.json", document)
    _, report = _lint(tmp_path)
    assert sorted(_codes(report, "model.json")) == [
        ("AD310", "/model/diffusion/config"),
        ("AD703", ""),
        ("AD901", "/training"),
    ]
    entry = report["files"][0]
    ad703 = next(d for d in entry["diagnostics"] if d["code"] == "AD703")
    assert ad703["line"] == 2  # at the `model_type` key


def test_long_demo_rounds(tmp_path):
    document = copy.deepcopy(_v2(DIT_COND))
    document["sample_size"] = 16384 * 256  # 262 s
    document["training"]["demo"]["demo_cfg_scales"] = [3, 6, 9]  # 1 demo x 3 scales x 262 s
    _write(tmp_path, "model.json", document)
    _, report = _lint(tmp_path)
    assert _codes(report, "model.json") == [("AD705", "/training/demo")]
    message = report["files"][0]["diagnostics"][0]["message"]
    assert "13.1 min" in message and "1 demos x 3 CFG scales" in message
    _write(tmp_path, "pyproject.toml", "[tool.audiodiff]\nmax-demo-seconds = 900\n")
    _, report = _lint(tmp_path)
    assert _codes(report, "model.json") == []


def test_seconds_start_with_random_crops_of_latents_is_reported_on_both_files(tmp_path):
    model = copy.deepcopy(_v2(DIT_COND))
    model["training"]["pre_encoded"] = True
    model["audio_channels"] = 1
    dataset = dict(_v2(DATASET_PRE_ENCODED), random_crop=True)
    _write(tmp_path, "models/model.json", model)
    _write(tmp_path, "datasets/latents.json", dataset)
    _, report = _lint(tmp_path)
    model_entry = next(e for e in report["files"] if e["path"].endswith("model.json"))
    dataset_entry = next(e for e in report["files"] if e["path"].endswith("latents.json"))
    on_model = [d for d in model_entry["diagnostics"] if d["code"] == "AD706"]
    on_dataset = [d for d in dataset_entry["diagnostics"] if d["code"] == "AD706"]
    assert [d["pointer"] for d in on_model] == ["/model/conditioning/configs/1/id"]
    assert [d["pointer"] for d in on_dataset] == ["/random_crop"]
    assert on_model[0]["related"][0]["pointer"] == "/random_crop"
    # without random crops, or without the model, nothing
    _write(tmp_path, "datasets/latents.json", dict(dataset, random_crop=False))
    _, report = _lint(tmp_path)
    assert not [d for e in report["files"] for d in e["diagnostics"] if d["code"] == "AD706"]


def test_non_canonical_spelling(tmp_path):
    _write(
        tmp_path,
        "u.yaml",
        "model_type: diffusion_uncond\nsample_rate: 16000\nsample_size: 16384\n"
        "audio_channels: 1\nmodel:\n  type: adp_uncond_1d\n  config: {in_channels: 1, channels: 32, "
        "multipliers: [1, 2], factors: [2], num_blocks: [1], attentions: [0, 0]}\n",
    )
    _, report = _lint(tmp_path)
    assert ("AD702", "/model/type") in _codes(report, "u.yaml")


def test_ignore_select_and_per_file_ignores(tmp_path):
    _write(tmp_path, "configs/a.json", DIT_COND)
    _write(tmp_path, "configs/upstream/b.json", DIT_COND)
    _, report = _lint(tmp_path)
    assert ("AD703", "") in _codes(report, "a.json") and ("AD703", "") in _codes(report, "b.json")
    _, report = _lint(tmp_path, "--ignore", "missing-schema-version")
    assert ("AD703", "") not in _codes(report, "a.json")
    _, report = _lint(tmp_path, "--select", "AD9")
    assert {code for entry in report["files"] for code, _ in _codes(report, entry["path"])} <= {"AD901"}
    _write(
        tmp_path,
        "pyproject.toml",
        '[tool.audiodiff]\nignore = ["AD901"]\n[tool.audiodiff.per-file-ignores]\n"configs/upstream/" = ["AD703"]\n',
    )
    _, report = _lint(tmp_path / "configs")
    assert _codes(report, "b.json") == []
    assert _codes(report, "a.json") == [("AD703", "")]


def test_usage_errors_exit_2(tmp_path):
    _write(tmp_path, "model.json", DIT_COND)
    result = runner.invoke(app, ["lint", str(tmp_path), "--ignore", "AD999"])
    assert result.exit_code == 2 and "matches no diagnostic code" in result.stderr
    result = runner.invoke(app, ["lint", str(tmp_path), "--select", "unrouted-conditoner"])
    assert result.exit_code == 2 and "unrouted-conditioner" in result.stderr  # did you mean
    _write(tmp_path, "pyproject.toml", "[tool.audiodiff]\nexclud = ['x']\n")
    result = runner.invoke(app, ["lint", str(tmp_path)])
    assert result.exit_code == 2 and "did you mean `exclude`" in result.stderr


def test_verbose_text_has_docs_links_and_provenance(tmp_path):
    document = copy.deepcopy(DIT_COND)
    del document["training"]["use_ema"]
    _write(tmp_path, "model.json", document)
    result = runner.invoke(app, ["lint", str(tmp_path), "-v"])
    assert result.exit_code == 0, result.output
    assert "= docs: https://github.com/audiodiff/audiodiff/blob/main/docs/codes.md#ad901" in result.stdout
    assert "`use_ema` = `true` comes from migration 1->2 (the default of version 1)" in result.stdout
    quiet = runner.invoke(app, ["lint", str(tmp_path)])
    assert "docs:" not in quiet.stdout and "comes from" not in quiet.stdout


def test_skipped_files_are_counted_and_explicit_files_sniffed(tmp_path):
    _write(tmp_path, "model.json", _v2(DIT_COND))
    _write(tmp_path, "package.json", {"name": "site"})
    _write(tmp_path, "hf/config.json", {"model_type": "t5", "d_model": 512})
    _write(tmp_path, "notes.yaml", "- model_type is explained in the README\n")
    _write(tmp_path, "broken.json", '{"model_type": "diffusion_cond", ')
    result = runner.invoke(app, ["lint", str(tmp_path)])
    assert result.exit_code == 1
    assert "Skipped 3 files that are not a model or dataset config (`-v` lists them)." in result.stdout
    listed = runner.invoke(app, ["lint", str(tmp_path), "-v"]).stdout
    assert "hf/config.json: `model_type` `t5` is not a stable-audio-tools model type" in listed
    assert "notes.yaml: not an object at the top level" in listed
    assert "broken.json:1:" in result.stdout and "AD006" in result.stdout
    named = runner.invoke(app, ["lint", str(tmp_path / "package.json"), str(tmp_path / "model.json")])
    assert named.exit_code == 0 and "Skipped 1 file that is not" in named.stdout
