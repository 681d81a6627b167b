"""`explain` says what a run trains and what stays frozen (fine-tuning a released model starts from that)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from audiodiff.compiler.lower import lower_spec
from audiodiff.schema.validate import validate_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _quantities(config: dict) -> dict[str, tuple[object, str]]:
    graph = lower_spec(validate_data(config).spec).graph
    return {q.name: (q.value, q.source) for q in graph.quantities}


def test_the_stable_audio_open_recipe_trains_the_dit_and_keeps_the_vae_and_t5_frozen() -> None:
    config = json.loads((EXAMPLES / "stable_audio_open.json").read_text())
    graph = lower_spec(validate_data(config).spec).graph
    found = {q.name: (q.value, q.source) for q in graph.quantities}
    trainable, trains = found["trainable_params"]
    frozen, frozen_parts = found["frozen_params"]
    assert trains == "trains: backbone, conditioner seconds_start, conditioner seconds_total"
    assert frozen_parts.startswith("frozen: pretransform;") and "conditioner prompt" in frozen_parts
    by_id = {node.id: node.params for node in graph.nodes}
    vae = by_id["pretransform.encoder"] + by_id["pretransform.decoder"]
    assert frozen == vae
    assert trainable + frozen == graph.total_params


def test_a_pretransform_with_enable_grad_trains_with_the_model() -> None:
    config = json.loads((EXAMPLES / "stable_audio_open.json").read_text())
    before = copy.deepcopy(config)
    config["model"]["pretransform"]["enable_grad"] = True
    found = _quantities(config)
    assert "pretransform" in found["trainable_params"][1]
    assert found["frozen_params"][0] == 0
    assert _quantities(before)["frozen_params"][0] > 0
