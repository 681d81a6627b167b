"""The studio's form is made from the model's conditioners (torch-free)."""

from __future__ import annotations

import json
from pathlib import Path

from studio_model import EXAMPLE

from audiodiff.compiler.pipeline import check_text
from audiodiff.serve.form import build_form, condition_values


def _spec(config: dict):
    check = check_text(json.dumps(config), "model.json")
    assert check.spec is not None, [d.message for d in check.diagnostics]
    return check.spec


def _example() -> dict:
    return json.loads(EXAMPLE.read_text())


def test_the_example_asks_for_its_class_and_fills_seconds_itself():
    form = build_form(_spec(_example()), max_seconds=60)
    assert [(f.id, f.kind, f.choices) for f in form.conditions] == [("class", "choice", ("tone", "chirp", "noise"))]
    assert form.unsupported == ()
    config = _example()
    assert form.seconds_default == config["sample_size"] / config["sample_rate"]
    assert form.seconds_max == 8  # the `seconds_total` conditioner's max_val: longer clips would be told "8 s"
    assert form.cfg and not form.negative_prompt
    assert form.objective == "rf_denoiser"


def test_numbers_become_bounded_sliders_and_ints_are_rounded():
    config = _example()
    config["model"]["conditioning"]["configs"] += [
        {"id": "bpm", "type": "int", "config": {"min_val": 60, "max_val": 200}},
        {"id": "energy", "type": "number", "config": {"min_val": -1, "max_val": 1}},
    ]
    config["model"]["diffusion"]["cross_attention_cond_ids"] += ["bpm", "energy"]
    form = build_form(_spec(config), max_seconds=3)
    fields = {f.id: f for f in form.conditions}
    assert (fields["bpm"].kind, fields["bpm"].minimum, fields["bpm"].maximum) == ("int", 60, 200)
    assert (fields["energy"].kind, fields["energy"].minimum, fields["energy"].maximum) == ("number", -1, 1)
    assert form.seconds_max == 3  # the page's cap is below the conditioner's range
    values = condition_values(form, {"class": "chirp", "bpm": 119.6, "energy": 0.25})
    assert values == {"class": "chirp", "bpm": 120, "energy": 0.25}
    assert isinstance(values["bpm"], int)


def test_text_conditioners_get_text_boxes_and_a_negative_prompt(tmp_path: Path):
    config = _example()
    config["model"]["conditioning"]["configs"][0] = {
        "id": "prompt",
        "type": "t5",
        "config": {"t5_model_name": "t5-small", "max_length": 16},
    }
    config["model"]["diffusion"]["cross_attention_cond_ids"][0] = "prompt"
    config["training"]["demo"]["demo_cond"] = [{"prompt": "x", "seconds_start": 0, "seconds_total": 1}] * 3
    form = build_form(_spec(config), max_seconds=60)
    assert [(f.id, f.kind) for f in form.conditions] == [("prompt", "text")]
    assert form.negative_prompt
