"""The exported JSON Schema describes exactly one schema version: version 1 accepts unversioned stable-audio-tools
files, version 2 requires `schema_version: 2` and the keys version 2 spells out."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from audiodiff.schema.export import export
from audiodiff.schema.migrate import migrate

DIT_CONFIG = {
    "model_type": "diffusion_cond",
    "sample_rate": 16000,
    "sample_size": 4096,
    "model": {
        "io_channels": 8,
        "conditioning": {
            "cond_dim": 16,
            "configs": [{"id": "level", "type": "number", "config": {"min_val": 0, "max_val": 1}}],
        },
        "diffusion": {
            "type": "dit",
            "cross_attention_cond_ids": ["level"],
            "config": {"io_channels": 8, "embed_dim": 64, "depth": 1, "num_heads": 2, "cond_token_dim": 16},
        },
    },
    "training": {
        "learning_rate": 1e-4,
        "demo": {"num_demos": 1, "demo_cfg_scales": [3], "demo_cond": [{"level": 0.5}]},
    },
}


def validator(version: int) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(export("model", version))


def test_version_1_accepts_the_dialect_and_rejects_version_2_files() -> None:
    assert validator(1).is_valid(DIT_CONFIG)
    assert not validator(1).is_valid(migrate(copy.deepcopy(DIT_CONFIG)).data)


def test_version_2_requires_the_spelled_out_keys() -> None:
    upgraded = migrate(copy.deepcopy(DIT_CONFIG)).data
    assert upgraded["schema_version"] == 2
    assert validator(2).is_valid(upgraded)
    assert not validator(2).is_valid(DIT_CONFIG)
    for path in (
        ("model", "diffusion", "config", "transformer_type"),
        ("model", "diffusion", "diffusion_objective"),
        ("training", "use_ema"),
    ):
        broken = copy.deepcopy(upgraded)
        node = broken
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        assert not validator(2).is_valid(broken), path


def test_version_2_rejects_the_upstream_spelling_of_the_plain_unet() -> None:
    config = {
        "schema_version": 2,
        "model_type": "diffusion_uncond",
        "sample_rate": 16000,
        "sample_size": 64,
        "model": {
            "type": "adp_uncond_1d",
            "config": {
                "in_channels": 2,
                "channels": 16,
                "multipliers": [1, 2],
                "factors": [2],
                "num_blocks": [1],
                "attentions": [0, 0],
            },
        },
        "training": {"learning_rate": 1e-4, "use_ema": True},
    }
    assert not validator(2).is_valid(config)
    config["model"]["type"] = "adp_1d"
    assert validator(2).is_valid(config)


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown schema version"):
        export("model", 7)
