"""`compile --explain` says where each value came from: the file's line, a migration, or a default."""

from __future__ import annotations

import json

from audiodiff.compiler.explain import explain
from audiodiff.compiler.pipeline import check_text

DIT = {
    "model_type": "diffusion_cond",
    "sample_rate": 16000,
    "sample_size": 16384,
    "audio_channels": 1,
    "model": {
        "io_channels": 64,
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 64}},
        "diffusion": {"type": "dit", "config": {"io_channels": 64, "embed_dim": 128, "depth": 2, "num_heads": 4}},
    },
}


def _sources(document: dict) -> dict[str, str]:
    check = check_text(json.dumps(document, indent=2), "model.json")
    assert check.graph is not None, check.diagnostics
    explanation = explain(check.path, check.graph, check.document, check.schema.version, migration=check.migration)
    return {setting.pointer: setting.source for setting in explanation.settings}


def test_a_dialect_file_gets_its_defaults_from_the_migration():
    sources = _sources(DIT)
    config = "/model/diffusion/config"
    assert sources[f"{config}/transformer_type"] == "migration 1->2 (the default of version 1)"
    text = json.dumps(DIT, indent=2).splitlines()
    line = next(number for number, content in enumerate(text, start=1) if '"embed_dim"' in content)
    assert sources[f"{config}/embed_dim"] == f"line {line}"
    assert sources[f"{config}/patch_size"] == "default of version 2"


def test_a_written_value_comes_from_its_line():
    document = json.loads(json.dumps(DIT))
    document["schema_version"] = 2
    document["model"]["diffusion"]["diffusion_objective"] = "v"
    document["model"]["diffusion"]["config"]["transformer_type"] = "continuous_transformer"
    sources = _sources(document)
    assert sources["/model/diffusion/config/transformer_type"].startswith("line ")
