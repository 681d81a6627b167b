"""`compile --explain`: snapshots of the text and json renderings of two configs, the documented json fields, dot,
and a subprocess check that explaining a 1.2B-parameter config imports no torch.

Snapshots change only on purpose: a difference fails the test and shows the diff; to accept it, rerun with
AUDIODIFF_UPDATE_SNAPSHOTS=1 and review the change to tests/compiler/snapshots/ in the commit.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shared_paths import CORPUS as SHARED_CORPUS
from typer.testing import CliRunner

from audiodiff.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
CONFIGS = {
    "toy_dit": "examples/toy_dit.json",
    "adp_cfg_t5_dac": "tests/corpus/valid/adp_cfg_t5_dac.yaml",
}


def _explain(relative: str, format: str) -> str:
    result = CliRunner().invoke(
        app, ["compile", relative, "--explain", "--format", format, "--batch", "4"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _compare(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("AUDIODIFF_UPDATE_SNAPSHOTS") == "1":
        path.write_text(actual)
    expected = path.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(path), "actual"))
        pytest.fail(f"explain output changed (AUDIODIFF_UPDATE_SNAPSHOTS=1 to accept after review):\n{diff}")


@pytest.fixture(autouse=True)
def _repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # snapshots hold paths relative to the repository


@pytest.mark.parametrize("name", CONFIGS)
def test_text_snapshot(name: str) -> None:
    _compare(f"{name}.txt", _explain(CONFIGS[name], "text"))


@pytest.mark.parametrize("name", CONFIGS)
def test_json_snapshot(name: str) -> None:
    _compare(f"{name}.json", _explain(CONFIGS[name], "json"))


def test_json_carries_the_documented_fields() -> None:
    document = json.loads(_explain(CONFIGS["toy_dit"], "json"))
    assert isinstance(document["total_params"], int)
    for node in document["nodes"]:
        assert {"id", "kind", "type", "params", "inputs", "outputs", "origin", "line"} <= set(node)
    assert (
        sum(node["params"] for node in document["nodes"] if node["kind"] != "pretransform") == document["total_params"]
    )
    assert {q["name"] for q in document["quantities"]} >= {
        "latent_rate",
        "latent_length",
        "seconds_per_sample",
        "max_generation_length",
        "demo_audio_per_round",
    }
    assert document["memory"]["training"]["total"] > document["memory"]["inference"]["total"] > 0


def test_dot_is_a_graphviz_digraph() -> None:
    dot = _explain(CONFIGS["toy_dit"], "dot")
    assert dot.startswith("digraph audiodiff {") and dot.rstrip().endswith("}")
    assert '"conditioning.class" -> "diffusion.backbone" [label="cross_attention"]' in dot


def test_params_cross_check_agrees_with_the_analytic_counts() -> None:
    result = CliRunner().invoke(app, ["compile", CONFIGS["toy_dit"], "--params"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "AD614" not in result.output


def test_explaining_a_stable_audio_sized_config_imports_no_torch(tmp_path: Path) -> None:
    shared = SHARED_CORPUS / "txt2audio__stable_audio_2_0.json"
    config = json.loads(shared.read_text()) if shared.is_file() else _stable_audio_sized()
    path = tmp_path / "big.json"
    path.write_text(json.dumps(config))
    script = (
        "import sys\n"
        "from audiodiff.cli.app import app\n"
        f"try:\n    app(['compile', {str(path)!r}, '--explain', '--format', 'json'])\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code, file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.stderr.strip().splitlines()[-1] == "NO-TORCH 0", completed.stderr
    document = json.loads(completed.stdout)
    assert document["total_params"] > 1_000_000_000


def _stable_audio_sized() -> dict:
    """A Stable Audio Open 1.0-sized DiT with number conditioners, for clones without the shared corpus."""
    return {
        "model_type": "diffusion_cond",
        "sample_rate": 44100,
        "sample_size": 2097152,
        "model": {
            "io_channels": 64,
            "conditioning": {
                "cond_dim": 768,
                "configs": [
                    {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                    {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                ],
            },
            "diffusion": {
                "type": "dit",
                "cross_attention_cond_ids": ["seconds_start", "seconds_total"],
                "global_cond_ids": ["seconds_start", "seconds_total"],
                "config": {
                    "io_channels": 64,
                    "embed_dim": 1536,
                    "depth": 24,
                    "num_heads": 24,
                    "cond_token_dim": 768,
                    "project_cond_tokens": False,
                    "global_cond_dim": 1536,
                    "transformer_type": "continuous_transformer",
                },
            },
        },
    }
