"""Materialising specs into modules: every shipped config builds on the meta device with the analytic parameter
counts, construction errors name the node and pointer, and building never loads weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shared_paths import CORPUS as SHARED_CORPUS

from audiodiff.compiler.estimate import meta_parameter_counts
from audiodiff.compiler.lower_training import TRAINING_KINDS
from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.schema.validate import validate_data

ROOT = Path(__file__).resolve().parents[2]
CORPUS = SHARED_CORPUS
OWN = sorted(p for p in (ROOT / "tests" / "corpus" / "valid").glob("*") if "model_type" in p.read_text())


def _shared() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob("*.json") if "model_type" in p.read_text())


def _check_builds(path: Path) -> None:
    check = check_file(path, check_paths=False)
    assert check.graph is not None, [d.message for d in check.diagnostics if d.is_error]
    module = build_model(check.spec, BuildOptions(device="meta"))
    assert all(p.is_meta for p in module.parameters())
    measured = meta_parameter_counts(module, autoencoder=check.graph.model_type == "autoencoder")
    for node in check.graph.nodes:
        # training-only nodes (an autoencoder's discriminator and losses) are not part of the model
        if node.params is not None and node.kind not in ("objective", "pretransform", *TRAINING_KINDS):
            assert measured.get(node.id, 0) == node.params, node.id


@pytest.mark.parametrize("path", _shared(), ids=lambda p: p.stem)
def test_every_shipped_config_builds_on_meta(path: Path) -> None:
    _check_builds(path)


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.name)
def test_every_valid_corpus_model_builds_on_meta(path: Path) -> None:
    _check_builds(path)


def test_constructor_errors_name_the_node_and_pointer() -> None:
    config = json.loads((ROOT / "examples" / "toy_dit.json").read_text())
    config["model"]["pretransform"]["config"]["oversampling"] = 2  # valid config, rejected by the module
    result = validate_data(config)
    assert result.spec is not None
    with pytest.raises(BuildError) as error:
        build_model(result.spec, BuildOptions(device="meta"))
    assert error.value.node_id == "pretransform" and error.value.pointer == "/model/pretransform"


def test_gradient_checkpointing_is_an_option() -> None:
    result = validate_data(json.loads((ROOT / "examples" / "toy_dit.json").read_text()))
    on = build_model(result.spec, BuildOptions(device="meta", gradient_checkpointing=True))
    off = build_model(result.spec, BuildOptions(device="meta"))
    assert on.model.model.transformer.gradient_checkpointing is True
    assert off.model.model.transformer.gradient_checkpointing is False
