"""Sampling requests are checked against the model before any weight is built: lengths, conditioning values of
the right type for each conditioner, defaults for the timing conditioners."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiodiff.cli.app import app
from audiodiff.runtime.generate import RequestError, SampleRequest, plan
from audiodiff.schema.validate import validate_data

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "toy_dit.json").read_text())


def _spec(config: dict):
    result = validate_data(config)
    assert result.ok, result.diagnostics
    return result.spec


def test_timing_conditioners_default_to_the_requested_length() -> None:
    the_plan = plan(_spec(EXAMPLE), SampleRequest(seconds=1.5, cond={"class": "tone"}))
    assert the_plan.metadata == [{"seconds_start": 0, "seconds_total": 1.5, "class": "tone"}]
    assert the_plan.samples == round(1.5 * EXAMPLE["sample_rate"])
    ratio = EXAMPLE["model"]["pretransform"]["config"]["patch_size"]
    assert the_plan.latent_length * ratio >= the_plan.samples


def test_int_timing_conditioners_get_whole_seconds() -> None:
    config = copy.deepcopy(EXAMPLE)
    for entry in config["model"]["conditioning"]["configs"][1:]:
        entry["type"], entry["config"] = "int", {"min_val": 0, "max_val": 8}
    for demo in config["training"]["demo"]["demo_cond"]:
        demo["seconds_total"] = 1  # an int conditioner's demo value is a whole number
    the_plan = plan(_spec(config), SampleRequest(seconds=1.024, cond={"class": "chirp"}))
    assert the_plan.metadata[0]["seconds_total"] == 2


@pytest.mark.parametrize(
    "cond, message",
    [
        ({"class": "banjo"}, "not one of the options"),
        ({"class": "tone", "seconds_total": "long"}, "needs a number"),
        ({"class": "tone", "colour": 1}, "names no conditioner"),
        ({}, "missing conditioning for `class`"),
    ],
)
def test_bad_conditioning_is_refused_before_building(cond: dict, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        plan(_spec(EXAMPLE), SampleRequest(seconds=1, cond=cond))


def test_the_cli_refuses_to_overwrite_and_reports_bad_values(tmp_path: Path) -> None:
    out = tmp_path / "take.wav"
    out.write_bytes(b"precious")
    runner = CliRunner()
    result = runner.invoke(
        app, ["sample", str(ROOT / "examples" / "toy_dit.json"), "--ckpt", "missing.ckpt", "--output", str(out)]
    )
    assert result.exit_code == 1 and "exists already" in result.output
    assert out.read_bytes() == b"precious"
    result = runner.invoke(
        app,
        [
            "sample",
            str(ROOT / "examples" / "toy_dit.json"),
            "--ckpt",
            "missing.ckpt",
            "--output",
            str(tmp_path / "new.wav"),
        ],
    )
    assert result.exit_code == 1 and "AD802" in result.output  # the checkpoint is read before any build
