"""The migration table in both directions, on plain data: what each step does, what it leaves alone, and that
reading a file migrates it in memory with the right diagnostics."""

from __future__ import annotations

import copy
import json

import pytest

from audiodiff.compiler.pipeline import check_text
from audiodiff.schema.migrate import MIGRATIONS, Respell, SpellOut, is_current, migrate, read_document
from audiodiff.schema.versions import (
    CHECKPOINT_VERSION_KEY,
    KNOWN_VERSIONS,
    LATEST_VERSION,
    checkpoint_schema_version,
    detect_version,
    stamp_checkpoint_metadata,
)

DIT_V1 = {
    "model_type": "diffusion_cond",
    "sample_rate": 16000,
    "sample_size": 16384,
    "audio_channels": 1,
    "model": {
        "io_channels": 64,
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 64}},
        "conditioning": {
            "cond_dim": 64,
            "configs": [{"id": "prompt", "type": "list", "config": {"options": ["a", "b"]}}],
        },
        "diffusion": {
            "type": "dit",
            "cross_attention_cond_ids": ["prompt"],
            "config": {"io_channels": 64, "embed_dim": 128, "depth": 2, "num_heads": 4, "cond_token_dim": 64},
        },
    },
    "training": {
        "learning_rate": 1e-4,
        "demo": {"num_demos": 1, "demo_cond": [{"prompt": "a"}], "demo_cfg_scales": [3]},
    },
}

UNCOND_V1 = {
    "model_type": "diffusion_uncond",
    "sample_rate": 16000,
    "sample_size": 16384,
    "audio_channels": 1,
    "model": {
        "type": "adp_uncond_1d",
        "config": {
            "in_channels": 1,
            "channels": 32,
            "multipliers": [1, 2],
            "factors": [2],
            "num_blocks": [1],
            "attentions": [0, 0],
        },
    },
}

AUTOENCODER_V1 = {"model_type": "autoencoder", "training": {"learning_rate": 1e-4}}


def test_two_versions_with_a_table_between_them():
    assert KNOWN_VERSIONS == (1, 2) and LATEST_VERSION == 2
    assert [(m.source, m.target) for m in MIGRATIONS] == [(1, 2)]
    kinds = {type(step) for step in MIGRATIONS[0].steps}
    assert kinds == {SpellOut, Respell}


def test_upgrade_writes_out_the_defaults_whose_meaning_changed():
    original = copy.deepcopy(DIT_V1)
    result = migrate(DIT_V1)
    assert DIT_V1 == original  # the caller's data is never touched
    data = result.data
    assert (result.source, result.target) == (1, 2)
    assert list(data)[0] == "schema_version" and data["schema_version"] == 2
    assert data["model"]["diffusion"]["config"]["transformer_type"] == "continuous_transformer"
    assert data["model"]["diffusion"]["diffusion_objective"] == "v"
    assert data["training"]["use_ema"] is True
    pointers = [change.pointer for change in result.changes]
    assert pointers == [
        "/model/diffusion/config/transformer_type",
        "/model/diffusion/diffusion_objective",
        "/training/use_ema",
        "/schema_version",
    ]
    # objects off the changed paths are shared, not copied
    assert data["model"]["conditioning"] is DIT_V1["model"]["conditioning"]


def test_explicit_values_are_kept_whatever_they_are():
    document = copy.deepcopy(DIT_V1)
    document["model"]["diffusion"]["config"]["transformer_type"] = "x-transformers"
    document["model"]["diffusion"]["diffusion_objective"] = "rectified_flow"
    document["training"]["use_ema"] = False
    data = migrate(document).data
    assert data["model"]["diffusion"]["config"]["transformer_type"] == "x-transformers"
    assert data["model"]["diffusion"]["diffusion_objective"] == "rectified_flow"
    assert data["training"]["use_ema"] is False


def test_use_ema_default_depends_on_the_model_type():
    assert migrate(AUTOENCODER_V1).data["training"]["use_ema"] is False
    assert migrate(DIT_V1).data["training"]["use_ema"] is True
    assert "training" not in migrate(UNCOND_V1).data  # no section is invented


def test_respelling_up_and_back_down():
    up = migrate(UNCOND_V1)
    assert up.data["model"]["type"] == "adp_1d"
    assert "transformer_type" not in up.data["model"]["config"]  # only dit backbones have one
    down = migrate(up.data, 1)
    assert down.data["model"]["type"] == "adp_uncond_1d"
    assert down.data["schema_version"] == 1
    # downgrading keeps written-out values: they mean the same to every reader
    assert migrate(migrate(DIT_V1).data, 1).data["training"]["use_ema"] is True


def test_round_trips_are_fixed_points():
    for document in (DIT_V1, UNCOND_V1, AUTOENCODER_V1):
        up = migrate(document).data
        assert migrate(up).changes == []
        down = migrate(up, 1).data
        assert migrate(down).data == up
        assert migrate(down, 1).changes == []


def test_a_version_two_file_is_current_and_a_dialect_file_is_not():
    assert not is_current(DIT_V1)
    assert is_current(migrate(DIT_V1).data)
    assert not is_current({**DIT_V1, "schema_version": 9})


def test_moving_to_the_declared_version_fills_its_lapses():
    lapsed = migrate(DIT_V1).data
    del lapsed["training"]["use_ema"]
    result = migrate(lapsed, 2)
    assert [(c.kind, c.pointer) for c in result.changes] == [("filled", "/training/use_ema")]


def test_unknown_versions_raise():
    with pytest.raises(ValueError, match="unknown schema version 3"):
        migrate(DIT_V1, 3)
    with pytest.raises(ValueError, match="not a version"):
        migrate({**DIT_V1, "schema_version": "2"})


def test_read_document_migrates_in_memory_and_sorts_its_notices():
    read = read_document(DIT_V1)
    assert read.version == 1 and read.data["schema_version"] == 2
    assert read.diagnostics and {d.code.id for d in read.diagnostics} == {"AD310"}
    assert {d.code.id for d in read.advice} == {"AD901"}
    assert {d.pointer for d in read.advice} == {"/model/diffusion", "/training"}
    assert read.change_at("/training/use_ema").provenance() == "migration 1->2 (the default of version 1)"


def test_a_declared_old_version_gets_a_notice_at_its_key():
    read = read_document(migrate(migrate(DIT_V1).data, 1).data)  # explicit, but declares version 1
    assert [(d.code.id, d.pointer) for d in read.advice] == [("AD901", "/schema_version")]


def test_a_version_two_file_must_be_explicit():
    document = migrate(DIT_V1).data
    del document["model"]["diffusion"]["config"]["transformer_type"]
    check = check_text(json.dumps(document, indent=2), "x.json")
    errors = [(d.code.id, d.pointer) for d in check.diagnostics if d.is_error]
    assert errors == [("AD102", "/model/diffusion/config")]
    assert check.graph is not None or check.schema.spec is not None  # later stages still ran on the filled value
    assert "AD310" not in [d.code.id for d in check.diagnostics]


def test_a_version_two_file_must_use_canonical_spellings():
    document = migrate(UNCOND_V1).data
    document["model"]["type"] = "adp_uncond_1d"
    check = check_text(json.dumps(document), "x.json")
    assert [(d.code.id, d.pointer) for d in check.diagnostics if d.is_error] == [("AD106", "/model/type")]


def test_validate_leaves_the_advice_to_lint():
    check = check_text(json.dumps(UNCOND_V1 | {"training": {"learning_rate": 1e-4}}), "x.json")
    assert [d.code.id for d in check.diagnostics] == []
    advised = check_text(json.dumps(UNCOND_V1 | {"training": {"learning_rate": 1e-4}}), "x.json", advice=True)
    assert sorted(d.code.id for d in advised.diagnostics) == ["AD702", "AD901"]
    assert check.schema.version == 1


def test_detect_version_knows_both():
    assert detect_version({}).version == 1 and not detect_version({}).declared
    assert detect_version({"schema_version": 2}).version == 2
    assert detect_version({"schema_version": True}).diagnostic.code.id == "AD108"


def test_checkpoints_carry_the_version():
    stamped = stamp_checkpoint_metadata({"format": "pt"})
    assert stamped == {"format": "pt", CHECKPOINT_VERSION_KEY: str(LATEST_VERSION)}
    assert checkpoint_schema_version(stamped) == LATEST_VERSION
    assert checkpoint_schema_version({}) is None
    assert checkpoint_schema_version({CHECKPOINT_VERSION_KEY: "7"}) == 7  # a newer writer: the caller decides
    from audiodiff.schema.migrate import config_for_checkpoint

    assert config_for_checkpoint(DIT_V1)["schema_version"] == LATEST_VERSION
