"""The differential tester on a few draws (the full run is `make parity`, PARITY_DRAWS=500).

Skipped, with the reason, where the reference's environment is absent: make it with
`../shared/tools/reference-env.sh` and point `AUDIODIFF_REFERENCE_PYTHON` at its python (default: `../refenv`).
"""

from __future__ import annotations

import os

import pytest
from draw import FAMILIES, draw
from harness import EXPLANATIONS, reference_python, report, run

pytestmark = pytest.mark.slow

DRAWS = int(os.environ.get("PARITY_TEST_DRAWS", "12"))


def test_draws_are_seeded_and_cover_every_family() -> None:
    first = [draw(index) for index in range(60)]
    again = [draw(index) for index in range(60)]
    assert [case.config for case in first] == [case.config for case in again]
    assert {case.family for case in first} == set(FAMILIES)
    assert draw(0, base_seed=1).config != draw(0).config


def test_reference_and_audiodiff_agree_on_drawn_configs(tmp_path) -> None:
    python = reference_python()
    if python is None:
        pytest.skip(
            "reference environment not found: run ../shared/tools/reference-env.sh and set "
            "AUDIODIFF_REFERENCE_PYTHON to its python (default ../refenv/bin/python)"
        )
    outcomes = run(DRAWS, base_seed=7, python=python, keep=tmp_path / "exchange")
    text = report(outcomes)
    assert any(outcome.status == "agree" for outcome in outcomes), text
    unexplained = [
        outcome
        for outcome in outcomes
        if outcome.status == "disagree" and not any(option in EXPLANATIONS for option in outcome.case.options)
    ]
    assert not unexplained, text
