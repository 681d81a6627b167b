"""Pydantic errors -> diagnostics: pointers into the user's document (never pydantic's union segments), and
did-you-mean help drawn from the right candidate set (sibling keys, registry tags, declared ids)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from audiodiff.schema import pointer as jsonpointer
from audiodiff.schema.errors import diagnostics_from_validation_error
from audiodiff.schema.v1.backbones import DiTSpec
from audiodiff.schema.v1.conditioning import NumberConfig
from audiodiff.schema.v1.pretransform import AutoencoderModelSpec
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionCondConfig
from audiodiff.schema.validate import validate_data

VALID = Path(__file__).resolve().parents[1] / "corpus" / "valid"
DIT_VAE = json.loads((VALID / "dit_t5_oobleck_vae.json").read_text())  # DiT + number conditioners + VAE pretransform

BACKBONE_TAGS = {"dit", "adp_cfg_1d", "adp_1d", "DAU1d"}
CONDITIONER_TAGS = {
    "t5",
    "clap_text",
    "clap_audio",
    "int",
    "number",
    "list",
    "phoneme",
    "lut",
    "pretransform",
    "source_mix",
}
PRETRANSFORM_TAGS = {"autoencoder", "wavelet", "pqmf", "dac_pretrained", "audiocraft_pretrained", "patched"}


def edited(data: dict, pointer: str, value: Any) -> dict:
    data = copy.deepcopy(data)
    *parents, last = jsonpointer.split(pointer)
    node = data
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    node[int(last) if isinstance(node, list) else last] = value
    return data


def deleted(data: dict, pointer: str) -> dict:
    data = copy.deepcopy(data)
    *parents, last = jsonpointer.split(pointer)
    node = data
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    del node[int(last) if isinstance(node, list) else last]
    return data


def raw_locs(data: dict, root: type[BaseModel]) -> list[tuple]:
    with pytest.raises(ValidationError) as caught:
        root.model_validate(data)
    return [item["loc"] for item in caught.value.errors()]


def diagnostics(data: dict) -> list:
    return validate_data(data).diagnostics


def suggested(help_text: str | None) -> set[str]:
    """The names a `did you mean ...?` help line offers."""
    assert help_text and help_text.startswith("did you mean"), help_text
    return set(re.findall(r"`([^`]+)`", help_text))


def field_names(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


# --- union tag segments never reach the pointer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "value", "tag_segment"),
    [
        ("/model/diffusion/config/embed_dim", "512", "dit"),  # the backbone union member
        ("/model/conditioning/configs/1/config/max_val", "512", "number"),  # a conditioner union member
        ("/model/pretransform/config/bottleneck/type", "vea", "autoencoder"),  # the pretransform union member
        ("/model/pretransform/config/encoder/config/channels", -1, "oobleck"),  # two tags deep
    ],
)
def test_union_tag_segments_are_dropped(pointer: str, value: Any, tag_segment: str) -> None:
    data = edited(DIT_VAE, pointer, value)
    locs = raw_locs(data, DiffusionCondConfig)
    assert any(tag_segment in loc for loc in locs), "pydantic's loc carries the tag, or this test proves nothing"
    found = diagnostics(data)
    assert [d.pointer for d in found] == [pointer]
    assert tag_segment not in jsonpointer.split(pointer)


def test_bottleneck_under_pretransform_drops_both_tags() -> None:
    data = edited(DIT_VAE, "/model/pretransform/config/bottleneck", {"type": "rvq", "config": {"dim": "32"}})
    locs = raw_locs(data, DiffusionCondConfig)
    assert any("autoencoder" in loc and "rvq" in loc for loc in locs)
    assert [(d.code.id, d.pointer) for d in diagnostics(data)] == [
        ("AD103", "/model/pretransform/config/bottleneck/config/dim")
    ]


def test_plain_union_branches_become_one_diagnostic() -> None:
    """`levels: int | list[int]` fails once per branch; the user sees one error naming both expectations."""
    data = edited(
        DIT_VAE, "/model/pretransform/config/bottleneck", {"type": "dithered_fsq", "config": {"dim": 32, "levels": "8"}}
    )
    locs = raw_locs(data, DiffusionCondConfig)
    assert len([loc for loc in locs if "levels" in loc]) == 2  # one per union branch, each with a branch segment
    found = diagnostics(data)
    assert [(d.code.id, d.pointer) for d in found] == [("AD103", "/model/pretransform/config/bottleneck/config/levels")]
    assert "an integer or a list" in found[0].message


def test_every_error_pointer_exists_in_the_document() -> None:
    """Whatever pydantic reports, each pointer names a real place (or, for a missing key, its parent exists)."""
    data = edited(DIT_VAE, "/model/diffusion/config/num_heads", "8")
    data = edited(data, "/model/conditioning/configs/0/type", "t5x")
    data = edited(data, "/model/pretransform/config/decoder/config/strides", [2, "4"])
    del data["model"]["pretransform"]["config"]["latent_dim"]
    data["training"]["demo"]["demo_every"] = -5
    found = diagnostics(data)
    assert len(found) == 5
    for diagnostic in found:
        tokens = jsonpointer.split(diagnostic.pointer)
        node: Any = data
        for position, token in enumerate(tokens):
            if diagnostic.code.id == "AD102" and position == len(tokens) - 1:
                assert isinstance(node, dict) and token not in node
                break
            node = node[int(token)] if isinstance(node, list) else node[token]


def test_missing_key_points_at_the_key_it_needs() -> None:
    found = diagnostics(deleted(DIT_VAE, "/model/pretransform/config/latent_dim"))
    assert [(d.code.id, d.pointer) for d in found] == [("AD102", "/model/pretransform/config/latent_dim")]


# --- did you mean: the right candidate set --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "typo", "intended", "siblings"),
    [
        ("/model/diffusion/config", "embd_dim", "embed_dim", field_names(DiTSpec)),
        ("/model/conditioning/configs/1/config", "max_value", "max_val", field_names(NumberConfig)),
        ("/model/pretransform/config", "downsample_ratio", "downsampling_ratio", field_names(AutoencoderModelSpec)),
        ("", "sample_sise", "sample_size", field_names(DiffusionCondConfig)),
    ],
)
def test_unknown_key_suggests_sibling_fields(parent: str, typo: str, intended: str, siblings: set[str]) -> None:
    data = copy.deepcopy(DIT_VAE)
    node: Any = data
    for token in jsonpointer.split(parent):
        node = node[int(token)] if isinstance(node, list) else node[token]
    node[typo] = 1
    found = [d for d in diagnostics(data) if d.code.id == "AD101"]
    assert [d.pointer for d in found] == [jsonpointer.join(parent, typo)]
    offered = suggested(found[0].help)
    assert intended in offered
    assert offered <= siblings, f"suggestions outside the section's own keys: {offered - siblings}"


def test_unknown_key_without_a_close_sibling_lists_the_section() -> None:
    data = edited(DIT_VAE, "/model/conditioning/configs/1/config", {"min_val": 0, "max_val": 512, "zzz": 1})
    found = diagnostics(data)
    assert [(d.code.id, d.pointer) for d in found] == [("AD101", "/model/conditioning/configs/1/config/zzz")]
    assert "`max_val`" in found[0].help and "`min_val`" in found[0].help


@pytest.mark.parametrize(
    ("pointer", "typo", "intended", "registry"),
    [
        ("/model/diffusion/type", "DAU1D", "DAU1d", BACKBONE_TAGS),
        ("/model/conditioning/configs/1/type", "numbr", "number", CONDITIONER_TAGS),
        ("/model/pretransform/type", "autoencodr", "autoencoder", PRETRANSFORM_TAGS),
    ],
)
def test_unknown_tag_suggests_registry_tags(pointer: str, typo: str, intended: str, registry: set[str]) -> None:
    found = diagnostics(edited(DIT_VAE, pointer, typo))
    assert [(d.code.id, d.pointer) for d in found] == [("AD105", pointer)]
    offered = suggested(found[0].help)
    assert intended in offered and offered <= registry


def test_unknown_routing_id_suggests_declared_ids() -> None:
    data = edited(DIT_VAE, "/model/diffusion/global_cond_ids", ["seconds_strat", "seconds_total"])
    found = diagnostics(data)
    assert [(d.code.id, d.pointer) for d in found] == [("AD201", "/model/diffusion/global_cond_ids/0")]
    offered = suggested(found[0].help)
    declared = {entry["id"] for entry in DIT_VAE["model"]["conditioning"]["configs"]}
    assert "seconds_start" in offered and offered <= declared


def test_input_concat_routing_also_suggests_inpainting_ids() -> None:
    data = edited(DIT_VAE, "/model/diffusion/input_concat_ids", ["inpaint_msk"])
    found = [d for d in diagnostics(data) if d.code.id == "AD201"]
    offered = suggested(found[0].help)
    assert "inpaint_mask" in offered and offered <= {"inpaint_mask", "inpaint_masked_input"}
    # other routes never offer them: the inpainting tensors may only be concatenated
    data = edited(DIT_VAE, "/model/diffusion/cross_attention_cond_ids", ["prompt", "inpaint_msk"])
    found = [d for d in diagnostics(data) if d.code.id == "AD201"]
    assert "inpaint" not in (found[0].help or "")


# --- keys with a place of their own ---------------------------------------------------------------------------------


def test_objective_inside_dit_config_is_ad309() -> None:
    data = edited(DIT_VAE, "/model/diffusion/config/diffusion_objective", "v")
    found = diagnostics(data)
    assert [(d.code.id, d.pointer) for d in found] == [("AD309", "/model/diffusion/config/diffusion_objective")]
    assert "beside `config`" in found[0].help


def test_objective_beside_config_is_fine() -> None:
    assert validate_data(edited(DIT_VAE, "/model/diffusion/diffusion_objective", "rectified_flow")).ok


def test_soft_clip_at_autoencoder_model_level_is_ad412() -> None:
    data = json.loads(json.dumps(AUTOENCODER))
    data["model"]["soft_clip"] = True
    found = diagnostics(data)
    assert [(d.code.id, d.pointer) for d in found] == [("AD412", "/model/soft_clip")]
    assert "`decoder`" in found[0].help
    data["model"].pop("soft_clip")
    data["model"]["decoder"]["soft_clip"] = True
    assert validate_data(data).ok


def test_soft_clip_in_a_pretransform_autoencoder_is_ad412_too() -> None:
    data = edited(DIT_VAE, "/model/pretransform/config/soft_clip", True)
    assert [(d.code.id, d.pointer) for d in diagnostics(data)] == [("AD412", "/model/pretransform/config/soft_clip")]


def test_keys_the_dit_derives_itself_explain_why() -> None:
    found = diagnostics(edited(DIT_VAE, "/model/diffusion/config/dim_heads", 64))
    assert [(d.code.id, d.pointer) for d in found] == [("AD101", "/model/diffusion/config/dim_heads")]
    assert "derives" in found[0].help


def test_missing_bottleneck_setting_is_ad411() -> None:
    data = edited(DIT_VAE, "/model/pretransform/config/bottleneck", {"type": "dac_rvq", "config": {"input_dim": 32}})
    found = diagnostics(data)
    assert sorted((d.code.id, d.pointer) for d in found) == [
        ("AD411", "/model/pretransform/config/bottleneck/config/codebook_size"),
        ("AD411", "/model/pretransform/config/bottleneck/config/n_codebooks"),
    ]
    assert all("`dac_rvq`" in d.message for d in found)


def test_base_pointer_prefixes_every_pointer() -> None:
    """A caller validating an embedded section (e.g. a checkpoint's config) places pointers under its own."""
    data = edited(AUTOENCODER, "/model/latent_dim", "16")
    with pytest.raises(ValidationError) as caught:
        AutoencoderConfig.model_validate(data)
    found = diagnostics_from_validation_error(caught.value, data, AutoencoderConfig, base_pointer="/model_config")
    assert [d.pointer for d in found] == ["/model_config/model/latent_dim"]


AUTOENCODER = {
    "model_type": "autoencoder",
    "sample_rate": 16000,
    "sample_size": 16384,
    "audio_channels": 1,
    "model": {
        "encoder": {
            "type": "oobleck",
            "config": {"in_channels": 1, "channels": 32, "c_mults": [1, 2], "strides": [4, 4], "latent_dim": 16},
        },
        "decoder": {
            "type": "oobleck",
            "config": {"out_channels": 1, "channels": 32, "c_mults": [1, 2], "strides": [4, 4], "latent_dim": 8},
        },
        "bottleneck": {"type": "vae"},
        "latent_dim": 8,
        "downsampling_ratio": 16,
        "io_channels": 1,
    },
}


def test_a_key_named_like_a_union_tag_does_not_hijack_the_pointer() -> None:
    """pydantic's loc carries the branch tag `dit`; a document key of that name must not be mistaken for it."""
    config = {
        "model_type": "diffusion_cond",
        "sample_rate": 16000,
        "sample_size": 16384,
        "model": {
            "io_channels": 8,
            "diffusion": {"type": "dit", "dit": {}, "config": {"io_channels": 8, "depth": "four"}},
        },
    }
    found = {(d.code.id, d.pointer) for d in validate_data(config).diagnostics}
    assert ("AD103", "/model/diffusion/config/depth") in found
    assert ("AD101", "/model/diffusion/dit") in found


def test_layer_counts_are_bounded_so_nothing_walks_a_billion_layers() -> None:
    config = {
        "model_type": "diffusion_cond",
        "sample_rate": 16000,
        "sample_size": 16384,
        "model": {"io_channels": 8, "diffusion": {"type": "dit", "config": {"io_channels": 8, "depth": 2_147_483_647}}},
    }
    found = {(d.code.id, d.pointer) for d in validate_data(config).diagnostics}
    assert ("AD104", "/model/diffusion/config/depth") in found
