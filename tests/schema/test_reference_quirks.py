"""Validator findings sized to what the reference really runs (issue 13's differential-testing results)."""

from __future__ import annotations

import copy
from typing import Any

import torch

from audiodiff.compiler.materialize import build_model
from audiodiff.schema.validate import validate_data

PATCHED_AUTOENCODER: dict[str, Any] = {
    "model_type": "autoencoder",
    "sample_rate": 16000,
    "sample_size": 256,
    "audio_channels": 1,
    "model": {
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 4}},
        "encoder": {
            "type": "oobleck",
            "config": {"in_channels": 4, "channels": 4, "c_mults": [1, 2], "strides": [2, 2], "latent_dim": 6},
        },
        "decoder": {
            "type": "oobleck",
            "config": {"out_channels": 4, "channels": 4, "c_mults": [1, 2], "strides": [2, 2], "latent_dim": 3},
        },
        "bottleneck": {"type": "vae"},
        "latent_dim": 3,
        "downsampling_ratio": 16,
        "io_channels": 1,
    },
}

INPUT_CONCAT_DIT: dict[str, Any] = {
    "model_type": "diffusion_uncond",
    "sample_rate": 16000,
    "sample_size": 24,
    "audio_channels": 1,
    "model": {
        "type": "dit",
        "config": {
            "in_channels": 4,
            "embed_dim": 64,
            "depth": 1,
            "num_heads": 2,
            "patch_size": 1,
            "transformer_type": "continuous_transformer",
            "timestep_cond_type": "input_concat",
            "timestep_embed_dim": 1,
        },
    },
    "training": {"learning_rate": 1e-4},
}


def _codes(data: dict) -> list[str]:
    return [d.code.id for d in validate_data(data).diagnostics]


def test_nested_patched_pretransform_counts_channels_after_patching() -> None:
    assert "AD404" not in _codes(PATCHED_AUTOENCODER)
    model = build_model(validate_data(PATCHED_AUTOENCODER).spec).eval()
    with torch.no_grad():
        latents = model.encode(torch.randn(2, 1, 64), noise=torch.randn(2, 3, 4))  # 64 samples / 16 = 4 latents
        assert latents.shape == (2, 3, 4)
        assert model.decode(latents).shape == (2, 1, 64)


def test_nested_patched_pretransform_still_checks_the_encoder_width() -> None:
    wrong = copy.deepcopy(PATCHED_AUTOENCODER)
    wrong["model"]["encoder"]["config"]["in_channels"] = 1  # the audio's channels, not the patched ones
    found = [d for d in validate_data(wrong).diagnostics if d.code.id == "AD404"]
    assert [d.pointer for d in found] == ["/model/encoder/config/in_channels"]
    assert "pretransform encodes to 4" in found[0].message


def test_input_concat_timestep_of_width_one_is_valid_and_runs_at_any_length() -> None:
    result = validate_data(INPUT_CONCAT_DIT)
    assert "AD311" not in [d.code.id for d in result.diagnostics]
    model = build_model(result.spec).eval()
    with torch.no_grad():
        for length in (1, 7, 24):
            assert model(torch.randn(2, 4, length), torch.rand(2)).shape == (2, 4, length)


def test_input_concat_timestep_wider_than_one_is_ad311() -> None:
    for width in (2, 24):  # 24 equals the sequence length: upstream still fails there (channel mismatch)
        wide = copy.deepcopy(INPUT_CONCAT_DIT)
        wide["model"]["config"]["timestep_embed_dim"] = width
        found = [d for d in validate_data(wide).diagnostics if d.code.id == "AD311"]
        assert [d.pointer for d in found] == ["/model/config/timestep_embed_dim"]


def _dit_with_int(min_val: int, max_val: int, demo_value: int) -> dict[str, Any]:
    return {
        "model_type": "diffusion_cond",
        "sample_rate": 16000,
        "sample_size": 64,
        "audio_channels": 1,
        "model": {
            "io_channels": 4,
            "conditioning": {
                "cond_dim": 8,
                "configs": [{"id": "bpm", "type": "int", "config": {"min_val": min_val, "max_val": max_val}}],
            },
            "diffusion": {
                "type": "dit",
                "global_cond_ids": ["bpm"],
                "config": {
                    "io_channels": 4,
                    "embed_dim": 64,
                    "depth": 1,
                    "num_heads": 2,
                    "global_cond_dim": 8,
                    "transformer_type": "continuous_transformer",
                },
            },
        },
        "training": {
            "learning_rate": 1e-4,
            "pre_encoded": True,
            "demo": {"num_demos": 1, "demo_cond": [{"bpm": demo_value}], "demo_cfg_scales": [1]},
        },
    }


def test_int_conditioner_with_an_offset_range_is_a_warning_and_an_error_for_the_reference() -> None:
    from audiodiff.diagnostics.target import DEFAULT_TARGET, UPSTREAM_TARGET, judge

    found = [d for d in validate_data(_dit_with_int(40, 220, 100)).diagnostics if d.code.id == "AD217"]
    assert [d.pointer for d in found] == ["/model/conditioning/configs/0/config/min_val"]
    assert "above 180" in found[0].message
    assert [d.is_error for d in judge(found, DEFAULT_TARGET)] == [False]
    assert [d.is_error for d in judge(found, UPSTREAM_TARGET)] == [True]
    assert "AD217" not in _codes(_dit_with_int(0, 220, 100))


def test_int_values_upstream_cannot_index_are_value_problems() -> None:
    from audiodiff.schema.values import value_problem

    entry = validate_data(_dit_with_int(40, 220, 100)).spec.model.conditioning.configs[0]
    assert value_problem(entry, 180) is None and value_problem(entry, 10) is None  # 10 clamps to row 40
    assert "row 181" in value_problem(entry, 181)
    assert "row 220" in value_problem(entry, 999)
