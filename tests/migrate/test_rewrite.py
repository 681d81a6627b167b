"""Rewriting config text in place: exact output for the layouts people write, in JSON and YAML."""

from __future__ import annotations

import pytest

from audiodiff.schema.migrate import migrate
from audiodiff.schema.rewrite import RewriteError, apply_changes, rewritten_text
from audiodiff.schema.source import load_text


def _migrated(text: str, name: str, target: int | None = None) -> str:
    document = load_text(text, name).document
    result = migrate(document.data, target)
    return rewritten_text(document, result.changes, result.data)


def test_json_indented_keeps_indentation_and_order():
    text = '{\n    "model_type": "autoencoder",\n    "training": {\n        "learning_rate": 1e-4\n    }\n}\n'
    assert _migrated(text, "a.json") == (
        "{\n"
        '    "schema_version": 2,\n'
        '    "model_type": "autoencoder",\n'
        '    "training": {\n'
        '        "learning_rate": 1e-4,\n'
        '        "use_ema": false\n'
        "    }\n"
        "}\n"
    )


def test_json_on_one_line_and_compact_separators():
    text = '{"model_type":"autoencoder","training":{"learning_rate":1e-4}}'
    assert _migrated(text, "a.json") == (
        '{"schema_version":2, "model_type":"autoencoder","training":{"learning_rate":1e-4, "use_ema":false}}'
    )


def test_json_tabs_and_crlf():
    text = '{\r\n\t"model_type": "autoencoder",\r\n\t"training": {\r\n\t\t"learning_rate": 1e-4\r\n\t}\r\n}\r\n'
    assert _migrated(text, "a.json") == (
        '{\r\n\t"schema_version": 2,\r\n\t"model_type": "autoencoder",\r\n\t"training": {\r\n'
        '\t\t"learning_rate": 1e-4,\r\n\t\t"use_ema": false\r\n\t}\r\n}\r\n'
    )


def test_json_key_placed_after_its_sibling():
    text = (
        "{\n"
        '  "model_type": "diffusion_cond",\n'
        '  "model": {\n'
        '    "diffusion": {\n'
        '      "type": "adp_cfg_1d",\n'
        '      "config": {}\n'
        "    }\n"
        "  }\n"
        "}"
    )
    assert _migrated(text, "a.json") == (
        "{\n"
        '  "schema_version": 2,\n'
        '  "model_type": "diffusion_cond",\n'
        '  "model": {\n'
        '    "diffusion": {\n'
        '      "type": "adp_cfg_1d",\n'
        '      "diffusion_objective": "v",\n'
        '      "config": {}\n'
        "    }\n"
        "  }\n"
        "}"
    )


def test_json_into_an_empty_object():
    text = '{"model_type": "autoencoder", "training": {}}'
    assert _migrated(text, "a.json") == (
        '{"schema_version": 2, "model_type": "autoencoder", "training": {"use_ema": false}}'
    )


def test_yaml_block_keeps_comments_quotes_and_nesting():
    text = (
        "# an unconditioned U-Net\n"
        "model_type: diffusion_uncond   # trailing comment\n"
        "model:\n"
        "  type: 'adp_uncond_1d'\n"
        "  config:\n"
        "    factors: [2, 2]\n"
        "\n"
        "# training\n"
        "training:\n"
        "  learning_rate: 1.0e-4\n"
        "  demo:\n"
        "    demo_every: 100\n"
        "  # the end\n"
    )
    assert _migrated(text, "a.yaml") == (
        "# an unconditioned U-Net\n"
        "schema_version: 2\n"
        "model_type: diffusion_uncond   # trailing comment\n"
        "model:\n"
        "  type: 'adp_1d'\n"
        "  config:\n"
        "    factors: [2, 2]\n"
        "\n"
        "# training\n"
        "training:\n"
        "  learning_rate: 1.0e-4\n"
        "  demo:\n"
        "    demo_every: 100\n"
        "  use_ema: true\n"
        "  # the end\n"
    )


def test_yaml_flow_mapping_and_list_item_mappings():
    text = (
        "model_type: diffusion_cond\n"
        "model:\n"
        "  diffusion: {type: dit, config: {embed_dim: 64}}\n"
        "training: {learning_rate: 0.001}\n"
    )
    assert _migrated(text, "a.yaml") == (
        "schema_version: 2\n"
        "model_type: diffusion_cond\n"
        "model:\n"
        "  diffusion: {type: dit, diffusion_objective: v, "
        "config: {embed_dim: 64, transformer_type: continuous_transformer}}\n"
        "training: {learning_rate: 0.001, use_ema: true}\n"
    )


def test_yaml_block_scalar_before_the_insertion_point():
    text = "model_type: autoencoder\ntraining:\n  note: |\n    two\n    lines\n"
    assert _migrated(text, "a.yaml") == (
        "schema_version: 2\nmodel_type: autoencoder\ntraining:\n  note: |\n    two\n    lines\n  use_ema: false\n"
    )


def test_downgrade_text_rewrites_version_and_spelling():
    text = '{"schema_version": 2, "model_type": "diffusion_uncond", "model": {"type": "adp_1d"}}'
    assert _migrated(text, "a.json", 1) == (
        '{"schema_version": 1, "model_type": "diffusion_uncond", "model": {"type": "adp_uncond_1d"}}'
    )


def test_a_rewrite_that_would_change_the_meaning_is_refused():
    document = load_text('{"model_type": "autoencoder", "training": {}}', "a.json").document
    result = migrate(document.data)
    wrong = dict(result.data, model_type="lm")
    with pytest.raises(RewriteError):
        rewritten_text(document, result.changes, wrong)
    assert "use_ema" in apply_changes(document, result.changes)
